"""The local stack: real Kafka, FerretDB on PostgreSQL, an SMTP sink and an SMS sink, plus the
four services.

Everything lives under `var/` (data, logs, pids, received mail and SMS); downloads and builds
under `.cache/`. Both are gitignored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import MongoClient

from deploy.local import postgres
from deploy.local.processes import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Layout:
    root: Path = ROOT
    var: Path = ROOT / "var"
    cache: Path = ROOT / ".cache"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    mongo_port: int = 27017
    postgres_port: int = 5433
    smtp_port: int = 1025
    sms_port: int = 1026

    @classmethod
    def from_env(cls) -> Layout:
        var = Path(os.environ.get("VESTNIK_VAR_DIR", ROOT / "var"))
        return cls(var=var)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    @property
    def mail_dir(self) -> Path:
        return self.var / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.var / "sms"


SERVICE_PORTS = {"grades": 8001, "consent": 8002, "notifier": 8003, "digest": 8004, "account": 8005}
# The local stack serves plain http: the account's session cookie cannot be Secure there.
LOCAL_ENV = {"account": {"VESTNIK_ACCOUNT_SECURE_COOKIES": "false"}}


def infrastructure(layout: Layout) -> list[ManagedProcess]:
    kafka_dir = layout.var / "kafka"
    kafka_classpath = str(layout.cache / "kafka" / "libs" / "*")
    kafka_config = kafka_dir / "server.properties"
    ferretdb_binary = layout.cache / "bin" / "vestnik-ferretdb"
    postgres_data = layout.var / "postgres" / "data"

    def prepare_ferretdb() -> None:
        print(_run([str(HERE / "ferretdb" / "build.sh")]).strip())
        postgres.prepare_ferretdb_database(layout.postgres_port)

    def prepare_kafka() -> None:
        print(_run([str(HERE / "kafka" / "fetch.sh")]).strip())
        kafka_dir.mkdir(parents=True, exist_ok=True)
        template = Template((HERE / "kafka" / "server.properties.template").read_text())
        kafka_config.write_text(
            template.substitute(
                KAFKA_PORT=layout.kafka_port,
                CONTROLLER_PORT=layout.kafka_controller_port,
                DATA_DIR=kafka_dir / "data",
            )
        )
        # Formatting a formatted directory with a new cluster id fails, so only the first time.
        if not (kafka_dir / "data" / "meta.properties").exists():
            java = [_java(), "-cp", kafka_classpath, "kafka.tools.StorageTool"]
            cluster_id = _run([*java, "random-uuid"]).strip()
            _run([*java, "format", "--standalone", "-t", cluster_id, "-c", str(kafka_config)])

    return [
        ManagedProcess(
            name="kafka",
            argv=lambda: [
                _java(),
                "-Xms256m",
                "-Xmx512m",
                f"-Dlog4j2.configurationFile={HERE / 'kafka' / 'log4j2.yaml'}",
                "-cp",
                kafka_classpath,
                "kafka.Kafka",
                str(kafka_config),
            ],
            marker="kafka.Kafka",
            prepare=prepare_kafka,
            is_healthy=lambda: kafka_answers(layout.kafka_bootstrap),
            start_timeout=90,
            var_dir=layout.var,
        ),
        ManagedProcess(
            name="postgres",
            argv=lambda: postgres.server_argv(postgres_data, layout.postgres_port),
            # Its data directory: this stack's PostgreSQL, not another one on the machine.
            marker=f"-D {postgres_data}",
            prepare=lambda: postgres.prepare(postgres_data),
            is_healthy=lambda: postgres.answers(layout.postgres_port),
            stop_signal=signal.SIGINT,  # "fast" shutdown: SIGTERM would wait for every client
            var_dir=layout.var,
        ),
        ManagedProcess(
            name="ferretdb",
            argv=lambda: [
                str(ferretdb_binary),
                "-listen-addr",
                f"127.0.0.1:{layout.mongo_port}",
                "-postgresql-url",
                postgres.ferretdb_url(layout.postgres_port),
            ],
            marker="vestnik-ferretdb",
            prepare=prepare_ferretdb,
            is_healthy=lambda: mongo_answers(layout.mongo_url),
            var_dir=layout.var,
        ),
        ManagedProcess(
            name="smtp-sink",
            argv=lambda: _vestnik("sink", "smtp", "--port", str(layout.smtp_port)),
            marker="sink smtp",
            is_healthy=lambda: smtp_answers(layout.smtp_port),
            env={"VESTNIK_VAR_DIR": str(layout.var)},
            var_dir=layout.var,
        ),
        ManagedProcess(
            name="sms-sink",
            argv=lambda: _vestnik("sink", "sms", "--port", str(layout.sms_port)),
            marker="sink sms",
            is_healthy=lambda: http_ok(f"http://127.0.0.1:{layout.sms_port}/healthz"),
            env={"VESTNIK_VAR_DIR": str(layout.var)},
            var_dir=layout.var,
        ),
    ]


def services(layout: Layout) -> list[ManagedProcess]:
    return [
        ManagedProcess(
            name=name,
            argv=lambda name=name: _vestnik("serve", name),  # type: ignore[misc]
            marker=f"serve {name}",
            is_healthy=lambda port=port: http_ok(f"http://127.0.0.1:{port}/healthz"),  # type: ignore[misc]
            env=LOCAL_ENV.get(name, {}),
            var_dir=layout.var,
        )
        for name, port in SERVICE_PORTS.items()
    ]


# Health checks: each asks the server a real question of its own protocol.


def kafka_answers(bootstrap: str) -> bool:
    # While the broker starts, aiokafka logs every refused connection as an error.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def metadata() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        await admin.start()
        try:
            await admin.describe_cluster()
        finally:
            await admin.close()

    try:
        asyncio.run(asyncio.wait_for(metadata(), timeout=5))
    except Exception:  # any failure to answer means not (yet) healthy
        return False
    return True


def mongo_answers(url: str) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("ping")
    except Exception:  # not (yet) answering
        return False
    finally:
        client.close()
    return True


def smtp_answers(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
            return smtp.noop()[0] == 250
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise RuntimeError("Java 17+ is needed for Kafka: install a JDK or set JAVA_HOME")
    return java


def _vestnik(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


async def forget_prefixes(kafka_bootstrap: str, mongo_url: str, prefixes: list[str]) -> None:
    """Delete the topics and databases whose names start with one of `prefixes` (test run ids,
    benchmark rounds), so that a stack used again and again does not grow: a broker with
    thousands of leftover partitions takes minutes to recover after an unclean stop."""
    from services.shared.mongo import create_mongo_client

    if not prefixes:
        return
    starts = tuple(prefixes)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        topics = [topic for topic in await admin.list_topics() if topic.startswith(starts)]
        for first in range(0, len(topics), 500):
            await admin.delete_topics(topics[first : first + 500])
    finally:
        await admin.close()
    mongo = create_mongo_client(mongo_url)
    try:
        for name in await mongo.list_database_names():
            if name.startswith(starts):
                await mongo.drop_database(name)
    finally:
        await mongo.close()
