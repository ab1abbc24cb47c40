"""`seq2seq serve` checks its options before loading any model: one `error:` line and exit 2, never a traceback."""

import socket

import pytest

from seq2seq.cli import main


@pytest.mark.parametrize("args,message", [
    (["--port", "70000"], "--port must be between 1 and 65535, got 70000"),
    (["--port", "0"], "--port must be between 1 and 65535"),
    (["--port", "-1"], "--port must be between 1 and 65535"),
    (["--window-ms", "-1"], "--window-ms must be between 0 and 1000, got -1.0"),
    (["--window-ms", "nan"], "--window-ms must be between 0 and 1000, got nan"),
    (["--window-ms", "inf"], "--window-ms must be between 0 and 1000"),
    (["--max-batch", "0"], "--max-batch must be at least 1, got 0"),
    (["--max-request-cost", "0"], "--max-request-cost must be a positive number"),
    (["--max-queued-cost", "nan"], "--max-queued-cost must be a positive number"),
    (["--host", "no-such-host.invalid"], "--host 'no-such-host.invalid' is not an address or a known host name"),
    (["--host", "203.0.113.7"], "cannot listen on 203.0.113.7:"),  # an address this machine does not have
])
def test_bad_serve_options_are_one_error_line(capsys, args, message):
    assert main(["serve", "--model", "/nonexistent/model", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_port_in_use_is_one_error_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--model", "/nonexistent/model", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use") and err.count("\n") == 1
