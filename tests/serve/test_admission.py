"""Admission by cost: a request over the cost cap is refused with the numbers, a full queue answers 503 with
Retry-After, and a request that timed out or whose client left is dropped before its work runs."""

import asyncio
import socket
import threading
import time

import pytest

import toy_models
from seq2seq.serve.app import create_app
from seq2seq.serve.limits import Limits


@pytest.fixture(scope="module")
def translators():
    return toy_models.translators()


def test_request_over_the_cost_cap_is_413_with_the_numbers(translators):
    """64 texts of 2,000 characters at beam 16 kept the worker busy for minutes; now refused at once."""
    body = {"text": [" ".join("1234567890" * 100)[:2000]] * 64, "beam": 16}

    async def main():
        async with toy_models.client(create_app(translators)) as c:
            return await c.post("/translate", json=body), await c.post("/translate", json={"text": "1 2"})

    r, ok = asyncio.run(main())
    assert r.status_code == 413
    detail = r.json()["detail"]  # char pieces: 2,000 each, cut to the model's 250 -> 64 x 251 x 16
    assert "257,024 units" in detail and "64 texts, 16,000 tokens (at most 250 a text), beam 16" in detail
    assert "the limit is 40,000" in detail
    assert ok.status_code == 200


def test_full_queue_is_503_with_retry_after(translators):
    gate = toy_models.Gate(translators["toy"])
    cost = (len(translators["toy"].src_tok.encode(["1 2 3"])[0]) + 1) * 2  # (pieces + 1) x beam
    app = create_app({"toy": gate.translator}, limits=Limits(queued_cost=5 * cost))

    async def main():
        async with toy_models.client(app) as c:
            first = asyncio.ensure_future(c.post("/translate", json={"text": "1 2 3"}))
            await asyncio.to_thread(gate.entered.wait, 10)  # the worker holds the first request
            queued = [asyncio.ensure_future(c.post("/translate", json={"text": "1 2 3"})) for _ in range(4)]
            await asyncio.sleep(0.2)
            refused = await c.post("/translate", json={"text": "1 2 3"})
            gate.opened.set()
            return refused, await first, await asyncio.gather(*queued)

    refused, first, queued = asyncio.run(main())
    assert refused.status_code == 503 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert "busy" in refused.json()["detail"]
    assert first.status_code == 200 and [r.status_code for r in queued] == [200] * 4


def test_timed_out_work_is_dropped_before_it_runs(translators):
    """A 504 used to leave the work queued: the worker still decoded it, starving every later client."""
    gate = toy_models.Gate(translators["toy"])
    app = create_app({"toy": gate.translator}, timeout_s=0.5)

    async def main():
        async with toy_models.client(app) as c:
            first = asyncio.ensure_future(c.post("/translate", json={"text": "1 2 3"}))
            await asyncio.to_thread(gate.entered.wait, 10)
            late = await c.post("/translate", json={"text": "7 7 7"})  # waits behind the first: times out
            gate.opened.set()
            await first
            after = await c.post("/translate", json={"text": "4 5"})
            return late, after

    late, after = asyncio.run(main())
    assert late.status_code == 504 and "dropped" in late.json()["detail"]
    assert after.status_code == 200
    assert ["7 7 7"] not in gate.seen and gate.seen[-1] == ["4 5"]


def test_work_of_a_client_that_left_is_dropped(translators):
    """Over real HTTP: a client that closes its connection while queued never costs the worker anything."""
    import uvicorn

    gate = toy_models.Gate(translators["toy"])
    server = uvicorn.Server(uvicorn.Config(create_app({"toy": gate.translator}), host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]

    def send(text: str) -> socket.socket:
        body = ('{"text": "%s"}' % text).encode()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        return s

    try:
        first = send("1 2 3")
        assert gate.entered.wait(10)
        send("7 7 7").close()  # queued behind the first, then gone
        time.sleep(0.5)
        gate.opened.set()
        assert b"200 OK" in first.recv(65536)
        first.close()
        time.sleep(0.3)
        assert gate.seen == [["1 2 3"]]
        assert sum(b.queued for b in server.config.app.state.serving.batchers.values()) == 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)
