"""The body limit as ASGI middleware: bytes are counted as they arrive, so that a body without Content-Length
(chunked) is cut off at the limit too, before it is parsed or spooled to disk."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

from seq2seq.serve.limits import Limits


class BodyLimit:
    """ASGI middleware: a body over its path's limit is a 413, by its Content-Length before anything is read, or,
    without one, as soon as the bytes received pass the limit; the rest is never read."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.body_limit(scope["path"])
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            return await _reply_413(send, limit)
        seen, started = 0, False

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if seen > limit:  # an HTTPException, so that body parsers let it through to the app's handler
                raise BodyTooLarge(limit)
            return message

        async def watched(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _reply_413(send, limit)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit:,} bytes")


async def _reply_413(send, limit: int) -> None:
    body = json.dumps({"detail": BodyTooLarge(limit).detail}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
