"""Monitoring, tested the way ops will see it: a real Prometheus scrapes the services, evaluates
`deploy/prometheus/alerts.yml`, and shows the deadline-at-risk alert when final marks cannot be
delivered because the SMTP relay is down."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.sinks.smtp import smtp_sink
from tests.conftest import free_port
from tests.kafka_tools import eventually
from tests.school import load_grades_reference, load_guardian, post_journal
from tests.servers import Servers
from tests.services import running, serving

ALERTS = Path(__file__).parents[2] / "deploy" / "prometheus" / "alerts.yml"


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is not installed: `make install` installs Debian's package"
    return binary


@pytest.fixture
async def prometheus(prometheus_binary: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A real Prometheus on a free port; `scrape(jobs)` (re)writes its targets and reloads."""
    port = free_port()
    config = tmp_path / "prometheus.yml"

    def write(jobs: dict[str, str]) -> None:
        scrape = "".join(
            f"  - job_name: {job}\n    static_configs: [{{targets: ['{url.split('//')[1]}']}}]\n"
            for job, url in jobs.items()
        )
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{ALERTS}']\n"
            f"scrape_configs:\n{scrape}"
        )

    write({})
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)

    async def ready() -> bool:
        try:
            return (await client.get("/-/ready")).status_code == 200
        except httpx.TransportError:
            return False

    async def scrape(jobs: dict[str, str]) -> None:
        write(jobs)
        assert (await client.post("/-/reload")).status_code == 200

    try:
        await eventually(ready, timeout=30)
        yield client, scrape
    finally:
        await client.aclose()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def stopped_smtp(tmp_path: Path) -> Iterator[int]:
    """The SMTP relay's port, with the relay already gone: every e-mail waits to retry."""
    port = free_port()
    relay = smtp_sink(tmp_path / "mail", "127.0.0.1", port)
    relay.start()
    relay.stop()
    yield port


async def test_prometheus_sees_final_marks_at_risk_when_the_smtp_relay_is_down(
    servers: Servers,
    service_env: dict[str, object],
    run_id: str,
    prometheus: Any,
    stopped_smtp: int,
) -> None:
    client, scrape = prometheus
    async with AsyncExitStack() as stack:
        urls = {
            name: await stack.enter_async_context(serving(name, run_id, **settings))
            for name, settings in {
                "grades": service_env,
                "consent": service_env,
                "notifier": {
                    **service_env,
                    "smtp_port": stopped_smtp,
                    "retry_first_delay_seconds": 5.0,
                    "scheduler_poll_seconds": 0.5,
                },
            }.items()
        }
        await scrape(urls)
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        await load_grades_reference(grades)
        await load_guardian(
            consent,
            "g-1",
            "Иванова Мария Петровна",
            "st-1",
            email="maria@example.org",
            preferences={"channels": {"final_results": ["email"]}},
        )
        # Obtained two hours ago, and the relay is down: the parent is still not told.
        obtained = datetime.now(UTC) - timedelta(hours=2)
        response = await post_journal(
            grades,
            {
                "kind": "final_mark",
                "final_mark_id": "f-1",
                "student_id": "st-1",
                "subject_id": "math",
                "period_id": "q2",
                "value": "5",
                "obtained_at": obtained.isoformat(),
            },
        )
        assert response.json()["summary"]["accepted"] == 1, response.text

        async def alert() -> list[dict[str, Any]]:
            alerts = (await client.get("/api/v1/alerts")).json()["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "VestnikDeadlineAtRisk"]

        [at_risk] = await eventually(alert, timeout=120, interval=1.0)
        assert at_risk["state"] in ("pending", "firing")

        async def targets_up() -> bool:
            result = (await client.get("/api/v1/query", params={"query": "up"})).json()
            ups = {r["metric"]["job"]: r["value"][1] for r in result["data"]["result"]}
            return ups == {"grades": "1", "consent": "1", "notifier": "1"}

        assert await eventually(targets_up, timeout=30)
        age = (
            await client.get(
                "/api/v1/query",
                params={"query": "vestnik_oldest_undelivered_deadline_bound_seconds"},
            )
        ).json()
        [sample] = age["data"]["result"]
        assert 7000 < float(sample["value"][1]) < 9000  # about two hours
