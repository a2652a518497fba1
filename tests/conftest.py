"""Fixtures: real servers once per session, and per-test isolation by unique names."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from deploy.local.sinks.smtp import smtp_sink
from deploy.local.stack import http_ok
from schemas import Topics
from services.shared.auth import Role, issue_token
from tests.servers import Servers, forget, real_servers

# Browser tests' fixtures (`browser`, `page`) and hooks, for any test that opens pages.
pytest_plugins = ["tests.browser"]


_SHARED: list[Any] = []  # the controller's `real_servers()`, while its workers run


def pytest_configure(config: pytest.Config) -> None:
    """Run across processes (`pytest -n N`, tests/run.sh), the controller finds or starts the
    servers once and hands them to its workers as `VESTNIK_KAFKA_BOOTSTRAP` and
    `VESTNIK_MONGO_URL`: workers starting the local stack at once would race for its ports.
    Tests that stop the broker (`stops_kafka`) need it to themselves and run in a session of
    their own."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        shared = real_servers()
        found = shared.__enter__()
        _SHARED.append(shared)
        os.environ["VESTNIK_KAFKA_BOOTSTRAP"] = found.kafka_bootstrap
        os.environ["VESTNIK_MONGO_URL"] = found.mongo_url
        os.environ["VESTNIK_TEST_SERVERS_ORIGIN"] = found.origin


def pytest_unconfigure(config: pytest.Config) -> None:
    while _SHARED:
        _SHARED.pop().__exit__(None, None, None)


def pytest_report_header() -> str:
    return "servers: real Kafka and MongoDB protocol (environment, testcontainers or local stack)"


@pytest.fixture(scope="session")
def servers(pytestconfig: pytest.Config) -> Iterator[Servers]:
    with real_servers() as found:
        capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
        assert capture is not None
        with capture.global_and_fixture_disabled():
            print(
                f"\n[real servers ({found.origin}): Kafka at {found.kafka_bootstrap}, "
                f"MongoDB protocol at {found.mongo_url}]"
            )
        yield found
        # Whatever the tests named after their run ids goes with the session.
        asyncio.run(forget(found, RUN_IDS))


STUCK_AFTER_SECONDS = float(os.environ.get("VESTNIK_TEST_STUCK_AFTER", "300"))
STUCK_LOG = Path(__file__).parents[1] / "var" / "stuck-tests.log"


@pytest.fixture(autouse=True)
async def _show_tasks_if_stuck(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A test still running after 5 minutes writes where each asyncio task is waiting to
    `var/stuck-tests.log` (CI prints it), so a hang says which await never returned."""
    loop = asyncio.get_running_loop()

    def show() -> None:
        # To a file: pytest captures stderr, and a hung test never reports it.
        STUCK_LOG.parent.mkdir(exist_ok=True)
        with STUCK_LOG.open("a") as out:
            print(f"\n--- {request.node.nodeid} running for {STUCK_AFTER_SECONDS}s ---", file=out)
            for task in asyncio.all_tasks(loop):
                task.print_stack(file=out)

    handle = loop.call_later(STUCK_AFTER_SECONDS, show)
    yield
    handle.cancel()


RUN_IDS: list[str] = []


@pytest.fixture
def run_id() -> str:
    """Unique per test: prefixes its topics, names its databases and consumer groups."""
    RUN_IDS.append(f"t{uuid.uuid4().hex[:10]}")
    return RUN_IDS[-1]


@pytest.fixture
def topics(run_id: str) -> Topics:
    return Topics(prefix=f"{run_id}.")


@pytest.fixture
def service_env(servers: Servers, run_id: str) -> dict[str, object]:
    """Settings every service under test shares: the real servers and isolated names."""
    return {
        "kafka_bootstrap": servers.kafka_bootstrap,
        "mongo_url": servers.mongo_url,
        "topic_prefix": f"{run_id}.",
        "jwt_secret": TEST_SECRET.get_secret_value(),
    }


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
async def smtp_server(mail_dir: Path) -> AsyncIterator[Controller]:
    """A real SMTP server (aiosmtpd) on a free port, keeping messages as .eml in `mail_dir`."""
    controller = smtp_sink(mail_dir, "127.0.0.1", free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def sms_dir(tmp_path: Path) -> Path:
    return tmp_path / "sms"


@pytest.fixture
async def sms_gateway(sms_dir: Path) -> AsyncIterator[str]:
    """The SMS provider's HTTP API (our sink) on a free port; yields its base URL."""
    from deploy.local.sinks.sms import create_sms_sink
    from tests.services import on_a_port

    async with on_a_port(create_sms_sink(sms_dir)) as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


TEST_SECRET = SecretStr("test-secret-for-vestnik-tests-only-32+")


def bearer(role: Role, school_id: str = "school-1", person_id: str | None = None) -> dict[str, str]:
    token = issue_token(TEST_SECRET, role=role, school_id=school_id, person_id=person_id)
    return {"Authorization": f"Bearer {token}"}


AUTH = bearer("admin")


@contextmanager
def service_process(
    name: str, env: dict[str, str], port: int, logs: Path
) -> Iterator[dict[str, object]]:
    """Service `name` as a real process of its own, which a test may kill: `start` (with
    extra environment) starts one and waits until it answers, `url` is where."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> subprocess.Popen[bytes]:
        log_path = logs / f"{name}-{len(started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name],
            env={**os.environ, **env, **extra_env},
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        # A successor of a killed process may wait for Kafka's session timeout to take over.
        for _ in range(600):
            if http_ok(f"http://127.0.0.1:{port}/healthz"):
                return process
            assert process.poll() is None, log_path.read_text()
            subprocess.run(["sleep", "0.1"], check=True)
        raise AssertionError(f"{name} did not start")

    try:
        yield {"start": start, "url": f"http://127.0.0.1:{port}"}
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=20)


def _process_env(servers: Servers, run_id: str, service: str) -> dict[str, str]:
    prefix = f"VESTNIK_{service.upper()}"
    return {
        "VESTNIK_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "VESTNIK_MONGO_URL": servers.mongo_url,
        "VESTNIK_TOPIC_PREFIX": f"{run_id}.",
        f"{prefix}_MONGO_DB": f"{run_id}_{service}",
        "VESTNIK_JWT_SECRET": TEST_SECRET.get_secret_value(),
    }


@pytest.fixture
def grades_process(servers: Servers, run_id: str, tmp_path: Path) -> Iterator[dict[str, object]]:
    """The grades service as a real process of its own, which a test may kill."""
    port = free_port()
    env = {
        **_process_env(servers, run_id, "grades"),
        "VESTNIK_GRADES_PORT": str(port),
        "VESTNIK_GRADES_OUTBOX_POLL_SECONDS": "0.5",
        # A killed relay keeps its lease to the end of its slots: short ones for the restart.
        "VESTNIK_GRADES_RELAY_LEASE_SECONDS": "3",
    }
    with service_process("grades", env, port, tmp_path) as process:
        yield process


@pytest.fixture
def notifier_process(servers: Servers, run_id: str, tmp_path: Path) -> Iterator[dict[str, object]]:
    """The notifier as a real process of its own (`start(VESTNIK_SMTP_PORT=…)`)."""
    port = free_port()
    env = {
        **_process_env(servers, run_id, "notifier"),
        "VESTNIK_NOTIFIER_PORT": str(port),
        "VESTNIK_NOTIFIER_GROUP": f"{run_id}-notifier",
        "VESTNIK_NOTIFIER_POLL_SECONDS": "0.3",
        # Alone: its own view of consent decides (there is no consent service to ask).
        "VESTNIK_CONSENT_URL": "",
    }
    with service_process("notifier", env, port, tmp_path) as process:
        yield process
