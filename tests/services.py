"""Running a service in the test's own process, through its real lifespan and HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from services.registry import build_app


def _isolated_app(
    name: str, run_id: str, app_options: dict[str, Any] | None, settings: dict[str, Any]
) -> Any:
    """Service `name`'s app, its database and consumer group named after `run_id`, so tests
    never share state."""
    settings = {"mongo_db": f"{run_id}_{name}", "consumer_group": f"{run_id}-{name}", **settings}
    if name == "notifier":
        # A notifier under test asks consent before each send only where the test serves
        # consent on a port and says where (`all_four`); alone, its own view of consent decides.
        settings.setdefault("consent_url", None)
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


@dataclass(frozen=True)
class FourServices:
    grades: httpx.AsyncClient
    consent: httpx.AsyncClient
    notifier: httpx.AsyncClient
    digest: httpx.AsyncClient


@asynccontextmanager
async def all_four(
    run_id: str,
    service_env: dict[str, Any],
    *,
    smtp_port: int,
    sms_url: str | None = None,
    digest_clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[FourServices]:
    """Grades, consent, the notifier (on the test's SMTP server and SMS sink, asking consent
    on its port before each send, as in production) and the digest; with `digest_clock`, the
    digest runs weeks only when asked (no scheduler)."""
    digest_options = {"clock": digest_clock} if digest_clock else None
    digest_settings = {"scheduler": False} if digest_clock else {}
    sms = {"sms_url": sms_url} if sms_url else {}
    async with (
        running("grades", run_id, **service_env) as grades,
        serving("consent", run_id, **service_env) as consent_url,
        httpx.AsyncClient(base_url=consent_url, timeout=30) as consent,
        running(
            "notifier",
            run_id,
            smtp_port=smtp_port,
            consent_url=consent_url,
            **sms,
            **service_env,
        ) as notifier,
        running("digest", run_id, digest_options, **digest_settings, **service_env) as digest,
    ):
        yield FourServices(grades, consent, notifier, digest)
