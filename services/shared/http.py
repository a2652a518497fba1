"""The HTTP side every service shares: health, metrics and the AsyncAPI document."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.shared.errors import field_error, validation_failed
from services.shared.pages import InvalidCursorError

HealthCheck = Callable[[], Awaitable[None]]

# The ids in every `/v1` path: the journal's own ids, as they come.
ID_PATTERN = r"^[\w.:-]+$"
SchoolId = Annotated[
    str, Path(min_length=1, max_length=100, pattern=ID_PATTERN, examples=["school-1"])
]
RecordId = Annotated[str, Path(min_length=1, max_length=100, pattern=ID_PATTERN, examples=["st-1"])]


def operations_router(
    registry: CollectorRegistry,
    checks: dict[str, HealthCheck],
    asyncapi: Callable[[], dict[str, Any]],
    critical: set[str],
) -> APIRouter:
    """`/healthz` (each dependency checked), `/metrics` and `/asyncapi.json`; open, as probes,
    scrapers and documentation tools expect. None of them shows personal data.

    Two probes for an orchestrator: `/healthz/live` answers 200 while the process serves
    (restart it only when that fails: a restart brings no broker back), `/healthz/ready` is
    `/healthz` (503 while a dependency in `critical` is away: no traffic until it returns)."""
    router = APIRouter(tags=["operations"])

    @router.get("/asyncapi.json")
    async def asyncapi_document() -> dict[str, Any]:
        """The Kafka side of the service: what it consumes and publishes, generated from code."""
        return asyncapi()

    @router.get("/healthz/live", summary="Liveness: the process serves requests")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get(
        "/healthz/ready",
        summary="Readiness: the dependencies the service cannot work without are reachable",
        responses={503: {"description": "a critical dependency is unreachable"}},
    )
    async def ready(response: Response) -> dict[str, Any]:
        return await healthz(response)

    @router.get(
        "/healthz",
        summary="Each dependency checked (the same answer as /healthz/ready)",
        responses={503: {"description": "a critical dependency is unreachable"}},
    )
    async def healthz(response: Response) -> dict[str, Any]:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as error:  # any failure means unhealthy, whatever its type
                results[name] = f"error: {type(error).__name__}"
        failed = {name for name, result in results.items() if result != "ok"}
        if failed & critical:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            verdict = "unavailable"
        else:
            verdict = "degraded" if failed else "ok"
        return {"status": verdict, "checks": results}

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


# Larger than any request a service takes (a signed scan, a journal batch of 1,000 items),
# small enough that a client cannot make a service parse megabytes of JSON.
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_http_app(
    title: str,
    description: str,
    lifespan: Any,
    routers: list[APIRouter],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    for router in routers:
        app.include_router(router)
    app.add_middleware(RequestGuard, max_bytes=max_body_bytes)
    app.add_middleware(ServerTiming)

    async def invalid_cursor(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            field_error(("query", "cursor"), "not a cursor this list gave out"),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    app.add_exception_handler(InvalidCursorError, invalid_cursor)
    app.add_exception_handler(RequestValidationError, validation_failed)
    return app


class ServerTiming:
    """`Server-Timing: app;dur=<ms>` on every response: the time the service took until the
    response started, body read included, which `make bench` reads as a page's server time."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                headers = [*message.get("headers", []), (b"server-timing", took)]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, timed)


class RequestGuard:
    """What every service refuses before anything parses or stores it:

    - a body over `max_bytes` (413), by its declared Content-Length or counted as it arrives;
    - a NUL character in the body's strings, a form's fields or the query (422 naming where;
      a multipart form's files may hold any byte): PostgreSQL,
      under FerretDB, stores no NUL in text, and a NUL that reached a Kafka batch would fail
      that batch's insert again and again downstream.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if re.search(rb"%00", scope.get("query_string", b"")):
            await _answer(scope, send, 422, field_error(("query",), NUL_MESSAGE))
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_bytes):
            await _answer(scope, send, 413, {"detail": self._too_large()})
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client left
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self._max_bytes:
                await _answer(scope, send, 413, {"detail": self._too_large()})
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
        if content_type.startswith(b"application/x-www-form-urlencoded") and b"%00" in body:
            await _answer(scope, send, 422, field_error(("body",), NUL_MESSAGE))
            return
        # A file is bytes, NULs and all: whoever takes one stores it encoded (base64), and
        # reads the text fields of its form through `Request.form()`, which this does not see.
        if (
            not content_type.startswith(b"multipart/form-data")
            and (where := _nul_in(body)) is not None
        ):
            await _answer(scope, send, 422, field_error(("body", *where), NUL_MESSAGE))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: a disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    def _too_large(self) -> str:
        return f"the request body is larger than {self._max_bytes} bytes"


NUL_MESSAGE = "NUL characters are not allowed"


def _nul_in(body: bytes) -> tuple[str | int, ...] | None:
    """Where in a JSON body a string holds a NUL (an empty path: somewhere, unparsed)."""
    if b"\x00" not in body and b"\\u0000" not in body.lower():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return () if b"\x00" in body else None  # FastAPI answers what it cannot parse

    def search(value: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
        if isinstance(value, str):
            return path if "\x00" in value else None
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return (*path, key)
                if (found := search(item, (*path, key))) is not None:
                    return found
        if isinstance(value, list):
            for index, item in enumerate(value):
                if (found := search(item, (*path, index))) is not None:
                    return found
        return None

    return search(document, ())


async def _answer(scope: Scope, send: Send, code: int, body: Any) -> None:
    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await JSONResponse(body, status_code=code)(scope, nothing, send)
