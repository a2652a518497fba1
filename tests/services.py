"""Running a service in the test's own process, through its real lifespan and HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from services.registry import build_app


def _isolated_app(
    name: str, run_id: str, app_options: dict[str, Any] | None, settings: dict[str, Any]
) -> Any:
    """Service `name`'s app, its database and consumer group named after `run_id`, so tests
    never share state."""
    settings = {"mongo_db": f"{run_id}_{name}", "consumer_group": f"{run_id}-{name}", **settings}
    app, _ = build_app(name, app_options, **settings)
    return app


@asynccontextmanager
async def running(
    name: str, run_id: str, app_options: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Start service `name` (its Kafka consumers, relay, database) and yield an HTTP client."""
    app = _isolated_app(name, run_id, app_options, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
        ) as client,
    ):
        yield client


@asynccontextmanager
async def serving(
    name: str, run_id: str, app_options: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[str]:
    """Like `running`, but on a real port, for clients that cannot use an in-process
    transport: Prometheus scraping `/metrics`. Yields the base URL."""
    async with on_a_port(_isolated_app(name, run_id, app_options, settings)) as url:
        yield url


@asynccontextmanager
async def on_a_port(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn, in this process, on a free port; yield its base URL."""
    import asyncio

    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            try:
                task.result()  # raises what stopped it
            except SystemExit as stopped:
                # uvicorn exits when the app's startup fails; as SystemExit it would escape
                # pytest's fixture teardown and leave this test's fixtures to the next tests.
                raise RuntimeError(f"the app did not start (uvicorn exit {stopped.code})") from None
            raise RuntimeError("the server stopped before it started")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
