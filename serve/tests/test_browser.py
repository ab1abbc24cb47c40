"""Real-browser test: start the server on loopback, open the page in headless Chromium (Playwright driving
Debian's /usr/bin/chromium), translate through the UI, and check the result and heatmap appear."""

import shutil
import socket
import threading
import time

import pytest

import random

import toy_models
from conftest import draw
from serve.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    translator, captioner = toy_models.translators()["toy"], toy_models.captioners()["shapes"]
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


def test_translate_through_the_page(server, tmp_path):
    url, translator, captioner = server
    expected = translator.translate(["1 2 3", "4 5 6 7"])
    assert all(expected)  # the model has learnt enough to say something
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone-sized screen
            page.goto(url + "/", timeout=15000)
            page.wait_for_selector("#model option", state="attached", timeout=10000)
            assert "toy" in page.inner_text("#model")
            page.fill("#input", "1 2 3\n4 5 6 7")
            page.click("#go")
            page.wait_for_function("document.querySelector('#status').textContent.endsWith(' s')", timeout=15000)
            lines = page.inner_text("#output").split("\n")
            assert lines == expected
            assert page.locator("#heatmap table.attn td").count() > 0
            # caption an image through the file picker
            image = draw("red", "square", random.Random(0))
            image.save(tmp_path / "red.png")
            want = captioner.generate([image])[0].text
            page.set_input_files("#file", str(tmp_path / "red.png"))
            page.wait_for_function(f"document.querySelector('#caption').textContent === {want!r}", timeout=15000)
            page.wait_for_selector("#panels canvas", timeout=10000)
            assert page.locator("#panels figure").count() == len(want.split()) + 1  # each word and </s>
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            # a server-side error is shown on the page, not swallowed
            page.fill("#beam", "99")
            page.click("#go")
            page.wait_for_selector("#output.error", timeout=10000)
        finally:
            browser.close()
