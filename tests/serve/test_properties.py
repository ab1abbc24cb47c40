"""Property: whatever arrives (random Unicode with surrogates and NULs, odd JSON types, non-finite numbers,
sizes at and past each limit, chunked bodies, non-images), the app in-process never answers 5xx, and the good
requests sent concurrently with the bad ones get exactly the answer they get alone."""

import asyncio
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import toy_models
from seq2seq.serve.app import create_app
from seq2seq.serve.limits import MAX_BODY_BYTES, MAX_TEXT_CHARS, MAX_TEXTS

ODD_CHARS = ["\ud800", "\udfff", "\x00", "\x1b", "\x7f", "\u2028", "\ufeff", "\u200b", "\U0010ffff", "\u0301"]
chars = st.one_of(st.characters(exclude_categories=()), st.sampled_from(ODD_CHARS))
odd_text = st.one_of(st.text(chars, max_size=40),
                     st.integers(MAX_TEXT_CHARS - 1, MAX_TEXT_CHARS + 1).map(lambda n: "7 " * (n // 2) + "7" * (n % 2)))
odd_value = st.one_of(st.none(), st.booleans(), st.integers(-2, 20), st.integers(10**18, 10**30), st.floats(),
                      st.sampled_from([float("nan"), float("inf"), -float("inf"), 2.0, 1e400]), odd_text,
                      st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                          max_size=2))
odd_texts = st.one_of(odd_text, odd_value, st.lists(odd_text, max_size=4),
                      st.integers(MAX_TEXTS - 1, MAX_TEXTS + 1).map(lambda n: ["1 2"] * n),
                      st.just([" ".join("1234567890" * 100)[:MAX_TEXT_CHARS]] * MAX_TEXTS))
json_body = st.fixed_dictionaries({"text": odd_texts}, optional={
    "beam": odd_value, "nbest": odd_value, "model": odd_value, "from": odd_value, "to": odd_value,
    "extra": odd_value})


def _padded(n: int) -> bytes:
    """A valid JSON body of exactly n bytes."""
    head = b'{"text": "1 2"}'
    return head + b" " * (n - len(head))


raw_body = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b'{"text": "1", "beam": NaN}', b'{"text": Infinity}', b'{"text": "1", "nbest": -1e400}',
                     b'{"text": "\\ud800"}', b'{"text": "1 \\u0000 2"}', b'{"text": "1"', b"\xff\xfe{}", b"[]",
                     b'"text"', b"null", b'{"text": "1", "beam": 1e400}']),
    st.integers(MAX_BODY_BYTES - 1, MAX_BODY_BYTES + 1).map(_padded))


def _png(size) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size).save(buf, format="PNG")
    return buf.getvalue()


upload = st.one_of(st.binary(max_size=64), st.sampled_from([(21, 1), (1, 21), (20, 1), (1, 1)]).map(_png))


@st.composite
def bad_request(draw):
    """(kind, payload): a JSON body, raw bytes (with Content-Length or chunked), or an upload."""
    kind = draw(st.sampled_from(["json", "json", "raw", "chunked", "upload"]))
    if kind == "json":
        return kind, draw(json_body)
    if kind == "upload":
        return kind, draw(upload)
    return kind, draw(raw_body)


good_text = st.lists(st.integers(0, 9), min_size=0, max_size=8).map(lambda ds: " ".join(map(str, ds)))
good_request = st.tuples(good_text, st.sampled_from([None, 1, 2, 3]))


async def _chunked(data: bytes):
    for i in range(0, len(data), 1 << 16):
        yield data[i : i + (1 << 16)]


def _send(c, kind, payload):
    if kind == "json":
        return toy_models.post_json(c, payload)
    if kind == "upload":
        return c.post("/caption", files={"file": ("x.png", payload, "image/png")})
    content = payload if kind == "raw" else _chunked(payload)
    return c.post("/translate", content=content, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def models():
    return toy_models.translators(), toy_models.captioners()


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bad=st.lists(bad_request(), min_size=1, max_size=4), good=st.lists(good_request, min_size=1, max_size=4))
def test_no_5xx_and_good_requests_get_their_normal_answer(models, bad, good):
    translators, captioners = models
    tr = translators["toy"]
    expected = [tr.generate([t], beam=b or tr.search.beam)[0].text for t, b in good]  # each alone

    async def main():
        async with toy_models.client(create_app(translators, captioners, window_ms=20)) as c:
            requests = [_send(c, kind, payload) for kind, payload in bad]
            requests += [c.post("/translate", json={"text": t, **({"beam": b} if b else {})}) for t, b in good]
            return await asyncio.gather(*requests)

    replies = asyncio.run(main())
    for (kind, payload), r in zip(bad, replies):
        assert r.status_code < 500, (kind, payload, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert json.loads(r.text, parse_constant=pytest.fail)["detail"]
    got = [r.json()["translations"][0]["text"] if r.status_code == 200 else r.status_code for r in replies[len(bad):]]
    assert got == expected
