"""Every service refuses an oversized body before parsing it (issue 12, defect 10)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter

from services.shared.http import create_http_app


def an_app(max_bytes: int) -> Any:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    return create_http_app("t", "t", None, [router], max_body_bytes=max_bytes)


async def test_a_body_over_the_limit_is_a_413_declared_or_streamed() -> None:
    """Before: any size was read and parsed."""
    transport = httpx.ASGITransport(app=an_app(1_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        small = await client.post("/echo", json={"a": 1})
        declared = await client.post("/echo", json={"a": "x" * 2_000})

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"a": "'
            for _ in range(10):
                yield b"x" * 200
            yield b'"}'

        streamed = await client.post(
            "/echo", content=chunks(), headers={"content-type": "application/json"}
        )
    assert small.json() == {"keys": 1}
    assert declared.status_code == 413
    assert "larger than 1000 bytes" in declared.json()["detail"]
    assert streamed.status_code == 413
