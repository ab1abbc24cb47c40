"""Optional extras: the server (`seq2seq[serve]`) and the reports' plots (`seq2seq[report]`), checked before use."""

from __future__ import annotations

import importlib.util

from seq2seq.errors import UserError

EXTRAS = {"serve": ("fastapi", "uvicorn", "multipart"), "report": ("matplotlib", "markdown_it")}


def require_extra(extra: str) -> None:
    """A one-line UserError naming the pip command when a module of `extra` is not installed."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"this command needs the '{extra}' extra ({', '.join(missing)} not installed): "
                        f"pip install 'seq2seq[{extra}]'")
