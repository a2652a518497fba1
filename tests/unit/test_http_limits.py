"""Every service refuses an oversized body before parsing it (issue 12, defect 10)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, Request

from services.grades.items import SchoolIn
from services.shared.http import create_http_app


def an_app(max_bytes: int) -> Any:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        form = await request.form()
        return {"fields": len(form)}

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


async def test_a_nul_character_anywhere_in_the_input_is_a_422_naming_where() -> None:
    """PostgreSQL (under FerretDB) stores no NUL in text: before, a NUL in a comment or a name
    passed the API and failed a downstream batch insert again and again."""
    transport = httpx.ASGITransport(app=an_app(10_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        nested = await client.post("/echo", json={"a": [{"b": "x\x00y"}]})
        raw = await client.post(
            "/echo", content=b'{"a": "\x00"}', headers={"content-type": "application/json"}
        )
        in_query = await client.post("/echo?x=%00", json={"a": 1})
        escaped_backslash = await client.post("/echo", json={"a": "\\u0000 is fine as text"})
    assert nested.status_code == 422
    assert nested.json()["detail"][0]["loc"] == ["body", "a", 0, "b"]
    assert raw.status_code == 422
    assert in_query.status_code == 422
    assert in_query.json()["detail"][0]["loc"] == ["query"]
    assert escaped_backslash.json() == {"keys": 1}


async def test_a_form_s_fields_hold_no_nul_but_an_uploaded_file_may() -> None:
    """A signed document (the personal account's contacts) is binary: NULs and all."""
    transport = httpx.ASGITransport(app=an_app(10_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        field = await client.post("/upload", data={"address": "a\x00b@example.org"})
        binary = await client.post(
            "/upload", files={"signature": ("a.sig", b"\x30\x82\x00\x00", "application/pkcs7")}
        )
    assert field.status_code == 422
    assert field.json()["detail"][0]["loc"] == ["body"]
    assert binary.status_code == 200 and binary.json() == {"fields": 1}


async def test_a_422_names_the_field_without_echoing_the_input() -> None:
    """Before (outside grades): FastAPI's 422 echoed the input back, personal data included,
    with the parser's internals."""
    transport = httpx.ASGITransport(app=an_app(10_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post("/echo", json=["Иванова Мария, 8 916 123-45-67"])
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert set(error) == {"loc", "msg", "type"}
    assert "Иванова" not in answer.text


async def test_a_validators_message_reaches_the_caller_in_its_own_words() -> None:
    """Before: every rule's message began with pydantic's "Value error, "."""
    router = APIRouter()

    @router.put("/school")
    async def put_school(body: SchoolIn) -> dict[str, str]:
        return {"name": body.name}

    app = create_http_app("t", "t", None, [router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.put("/school", json={"name": "Школа", "timezone": "Europe"})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "timezone"]
    assert error["msg"].startswith("not an IANA time zone")


async def test_every_response_tells_the_server_time() -> None:
    """`make bench` reads a page's server time from this header (issue 14: 200 ms a page)."""
    transport = httpx.ASGITransport(app=an_app(1_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answered = await client.post("/echo", json={"a": 1})
        refused = await client.post("/echo", json={"a": "x" * 2_000})
    for response in (answered, refused):
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["server-timing"])
