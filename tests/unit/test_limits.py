"""The request body limit refuses a body too large before anything parses it, whether its
length is declared or it comes in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from services.shared.limits import BodyLimit


def an_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, int]:
        return {"keys": len(body)}

    app.add_middleware(BodyLimit, max_bytes=100)
    return app


async def test_a_body_over_the_limit_is_a_413_declared_or_chunked() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b'{"a": "', b"x" * 200, b'"}'):
            yield chunk

    transport = httpx.ASGITransport(app=an_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        declared = await client.post("/echo", json={"a": "x" * 200})
        chunked = await client.post(
            "/echo", content=chunks(), headers={"Content-Type": "application/json"}
        )
        small = await client.post("/echo", json={"a": "x"})

    assert (declared.status_code, chunked.status_code, small.status_code) == (413, 413, 200)
    assert (
        declared.json() == chunked.json() == {"detail": "the request body is larger than 100 bytes"}
    )
