"""The HTTP side every service shares: health, metrics and bearer-token authorization."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

HealthCheck = Callable[[], Awaitable[None]]

_bearer = HTTPBearer(auto_error=False)


def require_token(token: SecretStr) -> Any:
    """A dependency that answers 401 unless the request carries the service's bearer token."""

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), token.get_secret_value().encode()
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(check)


def operations_router(
    registry: CollectorRegistry,
    checks: dict[str, HealthCheck],
    asyncapi: Callable[[], dict[str, Any]],
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
        healthy = all(result == "ok" for result in results.values())
        if not healthy:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "ok" if healthy else "unavailable", "checks": results}

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
