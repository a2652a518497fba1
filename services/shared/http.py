"""The HTTP side every service shares: health, metrics and the AsyncAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

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
    scrapers and documentation tools expect. None of them shows personal data."""
    router = APIRouter(tags=["operations"])

    @router.get("/asyncapi.json")
    async def asyncapi_document() -> dict[str, Any]:
        """The Kafka side of the service: what it consumes and publishes, generated from code."""
        return asyncapi()

    @router.get("/healthz")
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


def create_http_app(
    title: str, description: str, lifespan: Any, routers: list[APIRouter]
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    for router in routers:
        app.include_router(router)
    return app
