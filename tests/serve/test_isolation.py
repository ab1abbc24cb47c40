"""A bad request costs that request only: invalid text, non-finite numbers, oversized chunked bodies and images
are refused with a 4xx and a JSON detail, and the good requests sent with them get their normal answers."""

import asyncio
import copy
import io
import json
import random

import pytest
from PIL import Image

import toy_models
from toy_models import post_json
from conftest import draw
from seq2seq.serve.app import create_app
from seq2seq.serve.limits import FORM_OVERHEAD, MAX_BODY_BYTES, MAX_UPLOAD_BYTES

GOOD = ["1 2 3", "4 5", "6 7 8 9", "0", "3 1", "2 2 2"]


@pytest.fixture(scope="module")
def translators():
    return toy_models.translators()


@pytest.fixture(scope="module")
def captioners():
    return toy_models.captioners()


def strict_json(text: str):
    """The body as JSON, refusing NaN and Infinity (which are not JSON)."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in the reply"))


def test_lone_surrogate_fails_alone(translators):
    """Sent together with six good requests (micro-batched with them), the bad one used to fail five of them."""
    tr = translators["toy"]

    async def main():
        async with toy_models.client(create_app(translators, window_ms=50)) as c:
            return await asyncio.gather(post_json(c, {"text": "\ud800 x"}),
                                        *(post_json(c, {"text": t}) for t in GOOD),
                                        post_json(c, {"text": ["1", "\udfff"]}))

    bad, *good, bad_list = asyncio.run(main())
    assert bad.status_code == 422 and "text 0" in bad.json()["detail"] and "U+D800" in bad.json()["detail"]
    assert bad_list.status_code == 422 and "text 1" in bad_list.json()["detail"]
    assert [r.status_code for r in good] == [200] * len(GOOD)
    assert [r.json()["translations"][0]["text"] for r in good] == [tr.translate(t) for t in GOOD]


def test_control_characters_become_spaces():
    tr = toy_models.translators()

    async def main():
        async with toy_models.client(create_app(tr)) as c:
            return await c.post("/translate", json={"text": ["1\x002\x1b3", "4\n5"]})

    r = asyncio.run(main())
    assert r.status_code == 200
    assert [t["text"] for t in r.json()["translations"]] == tr["toy"].translate(["1 2 3", "4 5"])


def test_a_batch_that_fails_anyway_is_retried_request_by_request(translators):
    """An input the checks do not catch and the model fails on fails its own request only (500), not the others
    of its micro-batch."""
    tr = translators["toy"]
    calls = []

    def generate(texts, **kw):
        calls.append(list(texts))
        if "9 9 9" in texts:
            raise RuntimeError("the model failed")
        return tr.generate(texts, **kw)

    failing = copy.copy(tr)
    failing.generate = generate

    async def main():
        async with toy_models.client(create_app({"toy": failing}, window_ms=200)) as c:
            return await asyncio.gather(c.post("/translate", json={"text": "9 9 9"}),
                                        *(c.post("/translate", json={"text": t}) for t in GOOD))

    bad, *good = asyncio.run(main())
    assert bad.status_code == 500
    assert [r.json()["translations"][0]["text"] for r in good] == [tr.translate(t) for t in GOOD]
    assert any("9 9 9" in c and len(c) > 1 for c in calls)  # batched with others, ...
    assert ["9 9 9"] in calls  # ... then retried alone


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("template", ['{"text": "1", "beam": %s}', '{"text": "1", "nbest": %s}', '{"text": %s}',
                                      '{"text": ["1", %s]}', '{"text": "1", "model": %s}', '{"text": "1", "to": %s}'])
def test_non_finite_numbers_are_422_with_json(translators, template, value):
    async def main():
        async with toy_models.client(create_app(translators)) as c:
            return await c.post("/translate", content=(template % value).encode(),
                                headers={"Content-Type": "application/json"})

    r = asyncio.run(main())
    assert r.status_code == 422
    assert strict_json(r.text)["detail"]


def test_surrogates_echoed_in_errors_are_escaped(translators):
    async def main():
        async with toy_models.client(create_app(translators)) as c:
            bodies = [{"text": "1", "model": ["\ud800"]}, {"text": "1", "from": "\ud800"},
                      {"text": "1", "model": "\udc00"}]
            return [await post_json(c, body) for body in bodies]

    statuses = [(r.status_code, strict_json(r.text)["detail"]) for r in asyncio.run(main())]
    assert [s for s, _ in statuses] == [422, 404, 404]
    assert all("ud800" in str(d) or "udc00" in str(d) for _, d in statuses)


async def _chunks(total: int, sent: list, chunk: int = 64 << 10):
    """`total` bytes in chunks, counting in `sent` what the server pulled."""
    while sent[0] < total:
        sent[0] += chunk
        yield b" " * chunk


def test_chunked_json_body_is_cut_at_the_limit(translators):
    sent = [0]

    async def main():
        async with toy_models.client(create_app(translators)) as c:
            return await c.post("/translate", content=_chunks(300 << 20, sent),
                                headers={"Content-Type": "application/json"})

    r = asyncio.run(main())
    assert "content-length" not in r.request.headers  # chunked
    assert r.status_code == 413 and "1,048,576 bytes" in r.json()["detail"]
    assert sent[0] <= MAX_BODY_BYTES + (64 << 10)  # the rest of the 300 MB was never read


def test_chunked_upload_is_cut_at_the_limit(captioners):
    sent = [0]

    async def body():
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        async for chunk in _chunks(400 << 20, sent):
            yield chunk

    async def main():
        async with toy_models.client(create_app({}, captioners)) as c:
            return await c.post("/caption", content=body(),
                                headers={"Content-Type": "multipart/form-data; boundary=x"})

    r = asyncio.run(main())
    assert r.status_code == 413 and "detail" in r.json()
    assert sent[0] <= MAX_UPLOAD_BYTES + FORM_OVERHEAD + (64 << 10)  # never spooled whole


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("size", [(500, 5), (20_000, 1), (1, 100_000), (49_000_000, 1)])
def test_thin_images_are_422_and_the_others_are_captioned(captioners, size):
    good = draw("red", "square", random.Random(0))
    want = captioners["shapes"].caption(good)

    async def main():
        async with toy_models.client(create_app({}, captioners, window_ms=50)) as c:
            return await asyncio.gather(
                c.post("/caption", files={"file": ("thin.png", _png(Image.new("1", size)), "image/png")}),
                *(c.post("/caption", files={"file": ("a.png", _png(good), "image/png")}) for _ in range(3)))

    thin, *ok = asyncio.run(main())
    assert thin.status_code == 422 and "thin.png: image too elongated" in thin.json()["detail"]
    assert [r.json()["caption"] for r in ok] == [want] * 3
