"""Real-browser tests: start the server on loopback, open the page in headless Chromium (Playwright driving
Debian's /usr/bin/chromium) on a phone-sized screen, and check what a person sees: translations with a heatmap
that scrolls in its card, captions with per-word panels over exactly the region the model saw, colour scales,
labels beside their inputs, and errors as plain sentences that leave no stale heatmap or panels behind."""

import io
import json
import random
import shutil
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import toy_models
from conftest import draw
from seq2seq.caption import Captioner
from seq2seq.serve.app import create_app
from seq2seq.serve.batcher import Busy
from seq2seq.serve.limits import Limits

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
LONG = " ".join("123456789012")  # 12 digits, 25 source pieces: a heatmap wider than a phone


def squashing(c: Captioner) -> Captioner:
    """The toy captioner (trained on square images, where crop and squash agree) set to squash photos."""
    return Captioner(c.model, c.tok, c.search, c.device, c.image_size, c.config, c.model_dir, "squash")


@pytest.fixture(scope="module")
def server():
    import uvicorn

    translator, captioner = toy_models.translators()["toy"], squashing(toy_models.captioners()["shapes"])
    app = create_app({"toy": translator}, {"shapes": captioner})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}", translator, captioner
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.goto(server[0] + "/", timeout=15000)
    page.wait_for_selector("#model option", state="attached", timeout=10000)
    yield page
    page.close()


def translate(page, text: str, beam: int = 2) -> None:
    page.fill("#input", text)
    page.fill("#beam", str(beam))
    page.click("#go")
    page.wait_for_function("!document.querySelector('#go').disabled", timeout=15000)


def upload(page, path) -> None:
    """Pick a file and wait until the page has shown its caption or its error (and drawn the panels)."""
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.querySelector('#caption').textContent !== 'captioning…'", timeout=15000)
    page.wait_for_timeout(200)  # the image's onload draws the panels


def thirds(width: int = 64, height: int = 32) -> Image.Image:
    """A 2:1 photo: red left quarter, green centre square, blue right quarter."""
    img = Image.new("RGB", (width, height), (0, 160, 0))
    img.paste((255, 0, 0), (0, 0, width // 4, height))
    img.paste((0, 0, 255), (width - width // 4, 0, width, height))
    return img


# each panel's size and its colour 4 px in from its left and right edges (a canvas scales with bilinear smoothing,
# so the outermost pixels of an upscaled region may take a little of the pixel beyond it)
PANEL_PIXELS = """() => [...document.querySelectorAll('#panels canvas')].map((c) => {
  const px = (x, y) => Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
  return {w: c.width, h: c.height, left: px(4, c.height >> 1), right: px(c.width - 5, c.height >> 1)};
})"""


def test_translate_and_caption_through_the_page(page, server, tmp_path):
    url, translator, captioner = server
    expected = translator.translate(["1 2 3", "4 5 6 7"])
    assert all(expected)  # the model has learnt enough to say something
    assert "toy" in page.inner_text("#model")
    translate(page, "1 2 3\n4 5 6 7")
    assert page.inner_text("#status").endswith(" s")
    assert page.inner_text("#output").split("\n") == expected
    assert page.locator("#heatmap table.attn td").count() > 0 and page.is_visible("#heatmap-legend")
    image = draw("red", "square", random.Random(0))
    image.save(tmp_path / "red.png")
    want = captioner.generate([image])[0].text
    upload(page, tmp_path / "red.png")
    assert page.inner_text("#caption") == want
    assert page.locator("#panels figure").count() == len(want.split()) + 1  # each word and </s>
    assert page.is_visible("#panels-legend")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)


def test_phone_layout(page, server, tmp_path):
    """At 390 px: no sideways page scroll, each label on its input's row, a wide heatmap scrolls in its card."""
    translate(page, LONG)
    assert page.locator("#heatmap thead th").count() > 20 and page.locator("#heatmap tbody tr").count() > 10
    geometry = page.evaluate("""() => {
      const box = (el) => el.getBoundingClientRect();
      const pairs = [...document.querySelectorAll('label[for]')].map((l) => {
        const a = box(l), b = box(document.getElementById(l.htmlFor));
        return {id: l.htmlFor, sameRow: a.top < b.bottom && b.top < a.bottom, beside: a.right <= b.left + 1,
                inside: b.right <= innerWidth};
      });
      const h = document.getElementById('heatmap');
      h.scrollLeft = 60;
      return {page: document.documentElement.scrollWidth, pairs, overflow: getComputedStyle(h).overflowX,
              heat: [h.scrollWidth, h.clientWidth, h.scrollLeft, box(h).right],
              card: box(h.closest('.card')).right};
    }""")
    assert geometry["page"] <= PHONE["width"], geometry
    assert {p["id"] for p in geometry["pairs"]} == {"model", "beam"}
    assert all(p["sameRow"] and p["beside"] and p["inside"] for p in geometry["pairs"]), geometry
    scroll_width, client_width, scrolled, right = geometry["heat"]
    assert geometry["overflow"] in ("auto", "scroll") and scroll_width > client_width and scrolled > 0
    assert right <= geometry["card"] <= PHONE["width"]  # the heatmap is inside its card, the card inside the page
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_panels_are_drawn_over_the_region_the_model_saw(page, server, tmp_path):
    """Squash: the reply's region is the whole 2:1 photo and each panel is 2:1, red on the left and blue on the
    right. Crop (a reply whose region is the centre square): square panels, green from edge to edge."""
    url, translator, captioner = server
    photo = thirds()
    photo.save(tmp_path / "wide.png")
    with page.expect_response("**/caption*") as reply:
        upload(page, tmp_path / "wide.png")
    body = reply.value.json()
    assert body["region"] == [0, 0, 64, 32] == list(captioner.generate([photo])[0].region)
    drawn = page.evaluate(PANEL_PIXELS)
    assert len(drawn) == len(body["attention"]["tokens"]) > 0
    for p in drawn:
        assert (p["w"], p["h"]) == (112, 56)  # the region's 2:1
        r, g, b = p["left"]
        assert r > max(g, b) + 20, p  # darkened where attention is low, but red
        r, g, b = p["right"]
        assert b > max(r, g) + 20, p
    crop = {"model": "shapes", "caption": "a green square", "score": -1.0, "region": [16, 0, 32, 32],
            "attention": {"tokens": ["▁a", "</s>"], "grid": [2, 2], "weights": [[0.25] * 4] * 2}}
    page.route("**/caption*", lambda route: route.fulfill(status=200, content_type="application/json",
                                                          body=json.dumps(crop)))
    upload(page, tmp_path / "wide.png")
    drawn = page.evaluate(PANEL_PIXELS)
    assert len(drawn) == 2
    for p in drawn:
        assert (p["w"], p["h"]) == (112, 112)
        assert p["left"] == p["right"] == [0, 160, 0], p  # the centre square only: no red, no blue


def server_replies(captioner, translator) -> dict:
    """The server's real error replies (status, JSON body, headers), provoked on an app with tight limits."""
    from seq2seq.data import images

    app = create_app({"toy": translator}, {"shapes": captioner},
                     limits=Limits(texts=2, text_chars=30, request_cost=100, upload_bytes=4000))
    png = io.BytesIO()
    thirds(1000, 20).save(png, format="PNG")  # 50:1
    out = {}
    with TestClient(app) as c:
        def keep(name, r):
            out[name] = (r.status_code, r.text, dict(r.headers))

        keep("texts", c.post("/translate", json={"text": ["1", "2", "3"]}))
        keep("chars", c.post("/translate", json={"text": ["1 2", "1" * 31]}))
        keep("cost", c.post("/translate", json={"text": "1 2 3 4 5 6 7 8 9 1 2 3 4", "beam": 16}))
        keep("beam", c.post("/translate", json={"text": "1", "beam": 99}))
        keep("elongated", c.post("/caption", files={"file": ("thin.png", png.getvalue(), "image/png")}))
        keep("upload", c.post("/caption", files={"file": ("big.png", b"x" * 5000, "image/png")}))
        keep("not-image", c.post("/caption", files={"file": ("notes.png", b"just text", "image/png")}))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(images, "MAX_PIXELS", 100)
            keep("pixels", c.post("/caption", files={"file": ("a.png", _png(draw("red", "square", random.Random(1))),
                                                              "image/png")}))
    busy = Busy(200, 30, 120, retry_after=7)
    out["busy"] = (503, json.dumps({"detail": str(busy)}), {"retry-after": "7"})
    out["timeout"] = (504, json.dumps({"detail": "the request took longer than 30 s; its queued work was dropped"}),
                      {})
    out["proxy"] = (502, "<html><body>Bad Gateway</body></html>", {"content-type": "text/html"})
    return out


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


PLAIN = {  # what a person reads for each of the server's errors
    "texts": "Too many lines at once: at most 2 lines per request.",
    "chars": "Line 2 is too long: at most 30 characters per line.",
    "cost": "This is more work than the server takes in one request. Send fewer or shorter lines, or use a smaller "
            "beam.",
    "beam": "The beam must be a whole number from 1 to 16.",
    "busy": "The server is busy right now. Please try again in 7 seconds.",
    "timeout": "That took too long, so the server stopped it. Try again with less text, a smaller image or a smaller "
               "beam.",
    "proxy": "Something went wrong on the server (error 502). Please try again.",
    "elongated": "This image is too long and thin for the model (its long side may be at most 20 times its short "
                 "side). Crop it and try again.",
    "upload": "This file is too big (at most 4 KB). Try a smaller copy of it.",
    "not-image": "This file is not an image the server can read. Try a JPEG or PNG photo.",
    "pixels": "This image has too many pixels. Try a smaller copy of it.",
}
CAPTION_ERRORS = ("elongated", "upload", "not-image", "pixels", "busy", "timeout")
TRANSLATE_ERRORS = ("texts", "chars", "cost", "beam", "busy", "timeout", "proxy")


def test_errors_are_plain_sentences_and_leave_nothing_stale(page, server, tmp_path):
    """Each error reply the server gives, replayed to the page after a good result: the page shows the plain
    sentence (no library name, no JSON) and the previous heatmap or panels are gone."""
    url, translator, captioner = server
    replies = server_replies(captioner, translator)
    assert [replies[k][0] for k in ("texts", "chars", "cost", "beam", "elongated", "upload", "not-image",
                                    "pixels")] == [413, 413, 413, 422, 422, 413, 415, 413]
    assert "PIL" in replies["not-image"][1]  # the raw detail names the library; the page must not
    good = tmp_path / "good.png"
    draw("blue", "circle", random.Random(2)).save(good)

    def replay(pattern, name):
        status, body, headers = replies[name]
        page.unroute(pattern)
        page.route(pattern, lambda route: route.fulfill(status=status, body=body, headers=headers))

    for name in TRANSLATE_ERRORS:
        page.unroute("**/translate*")
        translate(page, "1 2 3")
        assert page.locator("#heatmap td").count() > 0, name
        replay("**/translate*", name)
        translate(page, "1 2 3")
        assert page.inner_text("#output") == PLAIN[name] and page.locator("#output.error").count() == 1
        assert page.locator("#heatmap *").count() == 0 and not page.is_visible("#heatmap-legend"), name
    for name in CAPTION_ERRORS:
        page.unroute("**/caption*")
        upload(page, good)
        assert page.locator("#panels canvas").count() > 0, name
        replay("**/caption*", name)
        upload(page, good)
        assert page.inner_text("#caption") == PLAIN[name] and page.locator("#caption.error").count() == 1
        assert page.locator("#panels *").count() == 0 and not page.is_visible("#panels-legend"), name
    # the real server, no replay: a text file named .png
    page.unroute("**/caption*")
    (tmp_path / "notes.png").write_text("not an image")
    upload(page, tmp_path / "notes.png")
    assert page.inner_text("#caption") == PLAIN["not-image"]
    # an empty result clears the heatmap too
    translate(page, "1 2 3")
    page.route("**/translate*", lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(
        {"model": "toy", "translations": [{"text": "", "score": 0.0, "attention": {"source": [], "target": [],
                                                                                   "weights": []}}]})))
    translate(page, "")
    assert page.inner_text("#output") == "" and page.locator("#heatmap *").count() == 0
