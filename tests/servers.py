"""The real servers a test session runs against, found or started once.

1. `VESTNIK_KAFKA_BOOTSTRAP` and `VESTNIK_MONGO_URL` set: use them.
2. Otherwise, a Docker engine answers: Kafka and MongoDB in testcontainers.
3. Otherwise: the local stack (`vestnik stack up`'s Kafka, and FerretDB on PostgreSQL), started
   if needed and stopped again afterwards if this session started it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from deploy.local.processes import ManagedProcess
from deploy.local.stack import forget_prefixes


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    mongo_url: str
    origin: str
    # The broker's process, where the tests may stop and restart it (the local stack).
    kafka_process: ManagedProcess | None = None


@contextmanager
def real_servers() -> Iterator[Servers]:
    kafka = os.environ.get("VESTNIK_KAFKA_BOOTSTRAP")
    mongo = os.environ.get("VESTNIK_MONGO_URL")
    if kafka and mongo:
        # Named by a test session's controller that handed its servers to its workers.
        yield Servers(kafka, mongo, os.environ.get("VESTNIK_TEST_SERVERS_ORIGIN", "environment"))
    elif _docker_answers():
        with _containers() as servers:
            yield servers
    else:
        with _local_stack() as servers:
            yield servers


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@contextmanager
def _containers() -> Iterator[Servers]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with (
        KafkaContainer("confluentinc/cp-kafka:8.0.0").with_kraft() as kafka,
        MongoDbContainer("mongo:8.0") as mongo,
    ):
        yield Servers(kafka.get_bootstrap_server(), mongo.get_connection_url(), "testcontainers")


@contextmanager
def _local_stack() -> Iterator[Servers]:
    from deploy.local.stack import Layout, infrastructure

    layout = Layout.from_env()
    wanted = ("kafka", "postgres", "ferretdb")
    processes = {p.name: p for p in infrastructure(layout) if p.name in wanted}
    with ExitStack() as cleanup:
        for process in processes.values():
            if process.up().startswith("started"):
                cleanup.callback(process.down)
        kafka = processes["kafka"] if processes["kafka"].pid() is not None else None
        yield Servers(layout.kafka_bootstrap, layout.mongo_url, "local stack", kafka)


async def forget(servers: Servers, prefixes: list[str]) -> None:
    """The topics and databases of a session's run ids go with the session."""
    await forget_prefixes(servers.kafka_bootstrap, servers.mongo_url, prefixes)
