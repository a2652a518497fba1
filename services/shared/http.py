"""The HTTP side every service shares: health, metrics and the AsyncAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.shared.errors import field_error
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
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    async def invalid_cursor(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            field_error(("query", "cursor"), "not a cursor this list gave out"),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    app.add_exception_handler(InvalidCursorError, invalid_cursor)
    return app


class BodyLimit:
    """413 for a request body over `max_bytes`, before anything parses it: by its declared
    Content-Length, or by counting as it streams in when it declares none."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:
                    raise _TooLargeError(self._max_bytes)
            return message

        try:
            await self._app(scope, counting, send)
        except _TooLargeError:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"the request body is larger than {self._max_bytes} bytes"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        )
        await response(scope, receive, send)


class _TooLargeError(HTTPException):
    """Raised while the route reads the body: FastAPI answers an HTTPException as it is."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the request body is larger than {max_bytes} bytes",
        )
