"""A request body limit, applied before anything parses the body.

A JSON body is read whole and parsed before the models' own limits see it: without a limit of
its own, one request could make a service hold gigabytes. An ASGI middleware, so it also counts
a body sent without a Content-Length (chunked).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    """413 for a body over `max_bytes`: at once by its Content-Length, or as its bytes arrive
    (an HTTPException from the body's reader, which FastAPI answers as it answers its own)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self._detail()}, 413)(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message: Message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, counted_receive, send)

    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"
