"""API tests with FastAPI's test client: every endpoint, every bad-input case, and micro-batching."""

import asyncio
import io
import random

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import toy_models
from conftest import draw
from seq2seq.serve.app import MAX_TEXT_CHARS, MAX_TEXTS, create_app
from seq2seq.serve.batcher import MicroBatcher


@pytest.fixture(scope="module")
def translators():
    return toy_models.translators()


@pytest.fixture(scope="module")
def captioners():
    return toy_models.captioners()


@pytest.fixture(scope="module")
def client(translators, captioners):
    with TestClient(create_app(translators, captioners, window_ms=2)) as c:
        yield c


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def test_caption_upload(client, captioners):
    im = draw("red", "square", random.Random(0))
    r = client.post("/caption?attention=1", files={"file": ("a.png", _png(im), "image/png")}, data={"beam": "2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["caption"] == captioners["shapes"].generate([im])[0].text
    att = body["attention"]
    rows, cols = att["grid"]
    assert len(att["weights"]) == len(att["tokens"]) and all(len(w) == rows * cols for w in att["weights"])


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_caption_any_colour_mode(client, mode):
    im = draw("blue", "circle", random.Random(1)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    r = client.post("/caption", files={"file": (f"a.{fmt.lower()}", _png(im, fmt), "image/png")})
    assert r.status_code == 200 and isinstance(r.json()["caption"], str)


def test_caption_bad_uploads(client, monkeypatch):
    import seq2seq.data.images

    bad = {"not an image": (b"hello, not an image", 415), "empty": (b"", 422)}
    jpeg = _png(draw("red", "circle", random.Random(2)).resize((200, 200)), "JPEG")
    bad["truncated"] = (jpeg[: len(jpeg) // 2], 422)
    for what, (data, status) in bad.items():
        r = client.post("/caption", files={"file": ("x.jpg", data, "image/jpeg")})
        assert r.status_code == status, (what, r.text)
        assert "detail" in r.json()
    monkeypatch.setattr(seq2seq.data.images, "MAX_PIXELS", 100)  # a 32x32 image is now "huge"
    r = client.post("/caption", files={"file": ("a.png", _png(draw("red", "circle", random.Random(3))), "image/png")})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    r = client.post("/caption", content=b"x" * (11 << 20), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    r = client.post("/caption", data={"beam": "2"})  # no file
    assert r.status_code == 422
    assert client.get("/health").status_code == 200


def test_health_and_models(client):
    assert client.get("/health").json()["status"] == "ok"
    m = client.get("/models").json()["models"]
    assert m[0]["name"] == "toy" and m[0]["task"] == "translate" and m[0]["beam"] == 2
    assert m[1]["name"] == "shapes" and m[1]["task"] == "caption" and m[1]["from"] == "image"


def test_translate_one_and_many(client, translators):
    one = client.post("/translate", json={"text": "1 2 3"})
    assert one.status_code == 200
    expected = translators["toy"].translate(["1 2 3", "4 5", ""])
    assert one.json()["translations"][0]["text"] == expected[0]
    many = client.post("/translate", json={"text": ["1 2 3", "4 5", ""], "beam": 2})
    assert [t["text"] for t in many.json()["translations"]] == expected


def test_nbest_and_attention(client):
    r = client.post("/translate?attention=1", json={"text": "1 2 3", "beam": 3, "nbest": 2}).json()
    t = r["translations"][0]
    assert len(t["nbest"]) == 2 and t["nbest"][0]["score"] >= t["nbest"][1]["score"]
    att = t["attention"]
    assert len(att["weights"]) == len(att["target"]) and all(len(row) == len(att["source"]) for row in att["weights"])
    assert all(abs(sum(row) - 1) < 1e-2 for row in att["weights"])


def test_direction_and_model_choice(client):
    assert client.post("/translate", json={"text": "1", "model": "toy"}).status_code == 200
    assert client.post("/translate", json={"text": "1", "from": "src", "to": "tgt"}).status_code == 200
    r = client.post("/translate", json={"text": "1", "model": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert client.post("/translate", json={"text": "1", "from": "de", "to": "fr"}).status_code == 404


@pytest.mark.parametrize("body,status", [
    ({"text": "x" * (MAX_TEXT_CHARS + 1)}, 413),
    ({"text": ["1"] * (MAX_TEXTS + 1)}, 413),
    ({"text": []}, 422),
    ({"text": 5}, 422),
    ({}, 422),
    ({"text": "1", "beam": 0}, 422),
    ({"text": "1", "beam": 1000}, 422),
    ({"text": "1", "beam": 2, "nbest": 3}, 422),
])
def test_bad_requests_are_4xx_with_json(client, body, status):
    r = client.post("/translate", json=body)
    assert r.status_code == status
    assert "detail" in r.json()
    assert client.get("/health").status_code == 200  # still serving


def test_malformed_json_and_huge_body(client):
    r = client.post("/translate", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "detail" in r.json()
    r = client.post("/translate", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "detail" in r.json()


def test_page_and_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>seq2seq</title>" in page.text
    assert client.get("/docs").status_code == 200
    assert "/translate" in client.get("/openapi.json").json()["paths"]


def test_microbatcher_groups_concurrent_requests():
    """Eight concurrent submissions inside one window run as one call, each getting its own slice back."""
    calls = []

    def run(texts, options):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    async def main():
        b = MicroBatcher(run, window_ms=50, max_batch=64)
        await b.start()
        outs = await asyncio.gather(*(b.submit([f"a{i}", f"b{i}"], (1,)) for i in range(8)))
        await b.stop()
        return outs

    outs = asyncio.run(main())
    assert outs == [[f"A{i}", f"B{i}"] for i in range(8)]
    assert len(calls) == 1 and len(calls[0]) == 16


def test_microbatcher_respects_max_batch_and_options():
    calls = []

    def run(texts, options):
        calls.append((len(texts), options))
        return texts

    async def main():
        b = MicroBatcher(run, window_ms=30, max_batch=4)
        await b.start()
        await asyncio.gather(*(b.submit(["x", "y"], (i % 2,)) for i in range(6)))
        await b.stop()

    asyncio.run(main())
    assert all(n <= 4 for n, _ in calls) and sum(n for n, _ in calls) == 12
    assert len(calls) >= 3
