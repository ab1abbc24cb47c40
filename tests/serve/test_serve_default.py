"""`seq2seq serve` exactly as the README gives it (no arguments): every shipped translator and captioner is
served and /health answers; language models are fused, not served."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from seq2seq.hub import shipped

pytestmark = pytest.mark.slow


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not shipped(), reason="no shipped models")
def test_serve_with_no_arguments_answers_health():
    if not _port_free(8000):
        pytest.skip("port 8000 (the documented default) is in use on this machine")
    exe = os.path.join(os.path.dirname(sys.executable), "seq2seq")
    proc = subprocess.Popen([exe, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, health = time.monotonic() + 240, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2) as r:
                    health = json.load(r)
                    break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, f"seq2seq serve exited: {proc.communicate()[1][-500:]}"
        assert health is not None and health["status"] == "ok"
        expected = {n for n, m in shipped().items() if m["task"] in ("translate", "caption")}
        assert set(health["models"]) == expected and expected  # every translator and captioner, no LM
    finally:
        proc.terminate()
        proc.wait(timeout=30)
