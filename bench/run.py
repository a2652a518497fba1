"""`make bench`: a district's school year through the whole pipeline, on the local stack.

Two rounds on fresh services, the second with a history of delivered notices already in the
stores (the figures must not drop as history accumulates):
  - ingest: marks/s the journal API accepts; sustained delivery: notices/s the SMTP and SMS
    sinks and the inbox accept, after warm-up; database commands per delivered notice;
  - latency (journal item recorded → provider accepted), p50/p95/p99, at half that rate;
  - a quarter's end: every student's final mark in 15 subjects posted at once, until the last
    notice is accepted;
  - priority: one final mark posted behind a backlog of ordinary notices, until it is sent.
Then the raw ceiling (an aiokafka consume→produce relay on the same broker) and the weekly run
for a larger district (e-mail digests and 5 % paper pages). CPU and peak memory per process
throughout. Writes `bench/results/<date>.json`, `.md` and `.png`.

`SCALE` (environment, default 0.25: about 10 minutes on 2 cores) multiplies the district and
every volume; SCALE=1 is 1,000 students, a 50,000-notice backlog and 100,000 of history.
A benchmark, not a test: it asserts nothing, it measures. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from bench import account as pages
from bench import district as plans
from bench import reports as school_reports
from bench.history import seed
from bench.probes import ProcessWatch, percentile, pid_of, scrape
from deploy.local.processes import ManagedProcess
from deploy.local.stack import ROOT, Layout, forget_prefixes, http_ok, infrastructure
from schemas import (
    FinalMarkPosted,
    MarkPosted,
    NotificationSent,
    PeriodChanged,
    SchoolChanged,
    StudentChanged,
    Topics,
)
from schemas.consent import PreferencesChanged, PreferencesChangedPayload
from schemas.journal import (
    PeriodChangedPayload,
    SchoolChangedPayload,
    StudentChangedPayload,
)
from services.shared.auth import issue_token
from services.shared.config import DEV_JWT_SECRET
from services.shared.mongo import create_mongo_client

DEFAULT_SCALE = 0.25
SCALE = float(os.environ.get("SCALE", str(DEFAULT_SCALE)))
SCHOOLS = max(1, round(4 * SCALE))  # × 10 classes × 25 students
MARKS_EACH = 5
BACKLOG_NOTICES = int(50_000 * SCALE)
HISTORY_NOTICES = int(100_000 * SCALE)
WEEKLY_STUDENTS = int(10_000 * SCALE)
LATENCY_SECONDS = 30
BATCH = 500
RESULTS = ROOT / "bench" / "results"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SERVICES = ("grades", "consent", "notifier", "digest")
# The personal account is started only for its pages' phase: the rounds measure the pipeline.
PORTS = (*SERVICES, "account")
# BENCH_PHASES=account: only the account's pages, in minutes (`make bench-account`);
# BENCH_PHASES=reports: only the school's reports (`make bench-reports`).
PHASES = set(os.environ.get("BENCH_PHASES", "pipeline,account,reports").split(","))


async def forget(layout: Layout, prefix: str) -> None:
    """A round's topics and databases, once measured: the stack does not grow run after run."""
    await forget_prefixes(layout.kafka_bootstrap, layout.mongo_url, [prefix, prefix.strip(".")])


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Running:
    """The four services as processes of their own, on one topic prefix and its databases."""

    prefix: str
    processes: dict[str, subprocess.Popen[bytes]]
    ports: dict[str, int]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def urls(self) -> list[str]:
        return [self.url(name) for name in self.processes]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _die_with_the_bench() -> None:
    """In the child, before exec: the kernel stops it when the benchmark dies, however it dies,
    so that no service of an interrupted run keeps a port the next run's service needs."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As a server binds: connections of the last run still closing do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_of(name: str, replica: int = 1) -> int:
    return 18001 + 10 * (replica - 1) + PORTS.index(name)


def start(
    layout: Layout,
    prefix: str,
    names: tuple[str, ...] = SERVICES,
    *,
    replica: int = 1,
    watch: ProcessWatch | None = None,
    env: dict[str, str] | None = None,
) -> Running:
    """The services `names` as processes; `replica` 2 and on are more of the same (the same
    consumer groups and databases) on ports of their own. `watch` samples them; `env` overrides
    their settings (the chaos run's rebuilt digest: a group and a database of its own)."""
    log_dir = layout.var / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes, ports = {}, {}
    for name in names:
        port = port_of(name, replica)
        if not _port_is_free(port):
            raise RuntimeError(f"port {port} is taken: is another benchmark still running?")
        env = {
            **os.environ,
            "VESTNIK_KAFKA_BOOTSTRAP": layout.kafka_bootstrap,
            "VESTNIK_MONGO_URL": layout.mongo_url,
            "VESTNIK_TOPIC_PREFIX": prefix,
            f"VESTNIK_{name.upper()}_PORT": str(port),
            f"VESTNIK_{name.upper()}_MONGO_DB": f"{prefix.strip('.')}_{name}",
            f"VESTNIK_{name.upper()}_GROUP": f"{prefix}{name}",
            "VESTNIK_SMTP_PORT": str(layout.smtp_port),
            "VESTNIK_SMS_URL": f"http://127.0.0.1:{layout.sms_port}",
            "VESTNIK_SMS_PER_SECOND": "500",
            "VESTNIK_SMTP_CONCURRENCY": "8",
            "VESTNIK_DIGEST_SCHEDULER": "false",
            "VESTNIK_LOG_LEVEL": "WARNING",
            "VESTNIK_CONSENT_URL": f"http://127.0.0.1:{port_of('consent', replica)}",
            "VESTNIK_ACCOUNT_SECURE_COOKIES": "false",  # plain http here
            **(env or {}),
        }
        log = (log_dir / f"{prefix}{name}-{replica}.log").open("wb")
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            preexec_fn=_die_with_the_bench,
        )
        ports[name] = port
    running = Running(prefix, processes, ports)
    if watch is not None:
        watch.pids.update({name: process.pid for name, process in processes.items()})
    deadline = time.monotonic() + 120
    for name in names:
        while not http_ok(f"{running.url(name)}/healthz"):
            if time.monotonic() > deadline or processes[name].poll() is not None:
                raise RuntimeError(f"{name} did not start: see {log_dir}")
            time.sleep(0.3)
    return running


async def post_items(
    http: httpx.AsyncClient,
    grades: str,
    items: dict[str, list[dict[str, Any]]],
    tokens: dict[str, str],
    *,
    concurrency: int = 4,
) -> int:
    """Every school's items through the journal API, in batches of 500; how many accepted."""
    limit = asyncio.Semaphore(concurrency)
    accepted = 0

    async def one(school_id: str, batch: list[dict[str, Any]]) -> None:
        nonlocal accepted
        async with limit:
            response = await http.post(
                f"{grades}/v1/schools/{school_id}/journal",
                json={"items": batch},
                headers={"Authorization": f"Bearer {tokens[school_id]}"},
            )
            response.raise_for_status()
            accepted += response.json()["summary"]["accepted"]

    await asyncio.gather(
        *(
            one(school_id, school_items[start : start + BATCH])
            for school_id, school_items in items.items()
            for start in range(0, len(school_items), BATCH)
        )
    )
    return accepted


async def sent_so_far(http: httpx.AsyncClient, running: Running, **labels: str) -> float:
    return await scrape(
        http, [running.url("notifier")], "vestnik_notifications_total", outcome="sent", **labels
    )


async def db_commands(http: httpx.AsyncClient, running: Running) -> float:
    return await scrape(http, running.urls, "vestnik_db_commands_total")


async def wait_for_notices(
    http: httpx.AsyncClient, running: Running, target: float, *, timeout: float
) -> list[tuple[float, float]]:
    """Poll the notifier's count of sent notices until it reaches `target`; the samples
    (seconds since the start, count)."""
    started = time.monotonic()
    samples: list[tuple[float, float]] = []
    last_report = 0.0
    while True:
        count = await sent_so_far(http, running)
        elapsed = time.monotonic() - started
        samples.append((elapsed, count))
        if elapsed - last_report >= 15:
            say(f"    {count:.0f} of {target:.0f} notices sent after {elapsed:.0f} s")
            last_report = elapsed
        if count >= target or elapsed > timeout:
            return samples
        await asyncio.sleep(0.5)


def rate_between(samples: list[tuple[float, float]], base: float, total: float) -> float:
    """Notices per second between 10 % and 90 % of `total` (after warm-up, before the tail)."""
    low = next((t for t, c in samples if c - base >= 0.1 * total), None)
    high = next((t for t, c in samples if c - base >= 0.9 * total), None)
    if low is None or high is None or high <= low:
        return float("nan")
    return 0.8 * total / (high - low)


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        while batch := await consumer.getmany(timeout_ms=2000, max_records=5000):
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


async def latencies(bootstrap: str, topics: Topics, tag: str) -> list[tuple[datetime, float]]:
    """(sent at, seconds from the journal item recorded to the provider's acceptance) for each
    notice about an item whose id carries `tag`."""
    recorded = {}
    for event_type in (MarkPosted, FinalMarkPosted):
        for record in await read_all(bootstrap, topics.of(event_type)):
            event = json.loads(record.value)
            payload = event["payload"]
            if tag in payload.get("mark_id", payload.get("final_mark_id", "")):
                recorded[event["event_id"]] = datetime.fromisoformat(event["recorded_at"])
    samples = []
    for record in await read_all(bootstrap, topics.of(NotificationSent)):
        if dict(record.headers).get("x-event-type") != b"NotificationSent":
            continue
        sent = NotificationSent.model_validate_json(record.value).payload
        source = sent.dedupe_key.split(":")[0]
        if source in recorded:
            samples.append((sent.sent_at, (sent.sent_at - recorded[source]).total_seconds()))
    return sorted(samples)


def summarize(samples: list[tuple[datetime, float]]) -> dict[str, float]:
    values = [latency for _, latency in samples]
    return {
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values, default=float("nan")),
    }


async def round_of(layout: Layout, watch: ProcessWatch, *, history: int) -> dict[str, Any]:
    """One round on fresh services and databases: load, ingest and sustained delivery,
    latency at half rate, the quarter's end, priority behind a backlog."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    district = plans.plan(SCHOOLS)
    secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
    tokens = {
        s.school_id: issue_token(secret, role="admin", school_id=s.school_id, subject="bench")
        for s in district.schools
    }
    figures: dict[str, Any] = {"students": len(district.students)}
    if history:
        say(f"  writing a history of {history} delivered notices into the stores")
        mongo = create_mongo_client(layout.mongo_url)
        started = time.monotonic()
        await seed(mongo, prefix, district, history, say=say)
        await mongo.close()
        figures["history"] = {"notices": history, "seconds": time.monotonic() - started}
    running = start(layout, prefix, watch=watch)
    try:
        async with httpx.AsyncClient(timeout=300) as http:
            started = time.monotonic()
            await plans.load(district, running.url("grades"), running.url("consent"), tokens)
            figures["load_seconds"] = time.monotonic() - started
            say(f"  district loaded in {figures['load_seconds']:.0f} s")
            await asyncio.sleep(3)  # the reference data's events settle

            # Ingest and sustained delivery.
            items = plans.marks(district, MARKS_EACH, tag="sustained")
            expected = plans.expected_notices(district, plans.MARK_NOTICES, MARKS_EACH)
            base, commands = await sent_so_far(http, running), await db_commands(http, running)
            watch.mark(f"{prefix}sustained")
            say(f"  {sum(map(len, items.values()))} marks through the journal API")
            started = time.monotonic()
            accepted = await post_items(http, running.url("grades"), items, tokens)
            ingest_seconds = time.monotonic() - started
            samples = await wait_for_notices(http, running, base + expected, timeout=600)
            watch.mark(f"{prefix}sustained-end")
            delivered = samples[-1][1] - base
            figures["ingest"] = {
                "marks": accepted,
                "seconds": ingest_seconds,
                "marks_per_second": accepted / ingest_seconds,
            }
            figures["sustained"] = {
                "notices": delivered,
                "expected": expected,
                "seconds": samples[-1][0],
                "notices_per_second": rate_between(samples, base, expected),
                "db_commands_per_notice": (await db_commands(http, running) - commands)
                / max(delivered, 1),
                "cpu_percent": watch.cpu_percent(f"{prefix}sustained", f"{prefix}sustained-end"),
            }
            rate = figures["sustained"]["notices_per_second"]
            say(
                f"  ingest {figures['ingest']['marks_per_second']:.0f} marks/s, "
                f"delivery {rate:.0f} notices/s"
            )

            # Latency at half the sustained rate.
            pace = max(1.0, (rate / 2) / district.notices_per_mark())  # marks per second
            count = int(pace * LATENCY_SECONDS)
            paced = plans.marks(district, 1 + count // len(district.students), tag="paced")
            flat = [
                (school, item) for school, school_items in paced.items() for item in school_items
            ][:count]
            base = await sent_so_far(http, running)
            say(f"  {count} marks at {pace:.1f}/s for the latency")
            started = time.monotonic()
            for n in range(0, count, max(1, int(pace))):
                chunk: dict[str, list[dict[str, Any]]] = {}
                for school, item in flat[n : n + max(1, int(pace))]:
                    chunk.setdefault(school, []).append(item)
                await post_items(http, running.url("grades"), chunk, tokens)
                await asyncio.sleep(max(0.0, started + (n + pace) / pace - time.monotonic()))
            await asyncio.sleep(5)
            figures["latency"] = {
                "marks_per_second": pace,
                "marks": count,
                **summarize(await latencies(layout.kafka_bootstrap, topics, "paced")),
            }

            # A quarter's end.
            finals = plans.final_marks(district, tag="q2")
            expected = plans.expected_notices(district, plans.FINAL_NOTICES, len(plans.SUBJECTS))
            base, commands = await sent_so_far(http, running), await db_commands(http, running)
            watch.mark(f"{prefix}burst")
            say(f"  the quarter's end: {sum(map(len, finals.values()))} final marks at once")
            started = time.monotonic()
            await post_items(http, running.url("grades"), finals, tokens)
            samples = await wait_for_notices(http, running, base + expected, timeout=900)
            watch.mark(f"{prefix}burst-end")
            burst = await latencies(layout.kafka_bootstrap, topics, "q2")
            figures["burst"] = {
                "final_marks": sum(map(len, finals.values())),
                "notices": samples[-1][1] - base,
                "expected": expected,
                "seconds_to_last": time.monotonic() - started,
                "notices_per_second": rate_between(samples, base, expected),
                "db_commands_per_notice": (await db_commands(http, running) - commands)
                / max(samples[-1][1] - base, 1),
                "latency": summarize(burst),
                "cpu_percent": watch.cpu_percent(f"{prefix}burst", f"{prefix}burst-end"),
            }
            figures["samples"] = [(t.isoformat(), latency) for t, latency in burst]

            # Priority: one final mark behind a backlog of ordinary notices.
            each = max(
                1, round(BACKLOG_NOTICES / district.notices_per_mark() / len(district.students))
            )
            backlog = plans.marks(district, each, tag="backlog")
            say(
                f"  priority: {sum(map(len, backlog.values()))} marks "
                f"(~{BACKLOG_NOTICES} notices), then one final mark"
            )
            await post_items(http, running.url("grades"), backlog, tokens)
            told, student = next((sc, st) for sc, st in district.students if st.guardian == "email")
            finals_before = await sent_so_far(http, running, kind="final_mark_posted")
            started = time.monotonic()
            final = {
                "kind": "final_mark",
                "final_mark_id": "priority",
                "student_id": student.student_id,
                "subject_id": "subject-00",
                "period_id": "q2",
                "value": "5",
                "obtained_at": datetime.now(UTC).isoformat(),
            }
            await post_items(http, running.url("grades"), {told.school_id: [final]}, tokens)
            while await sent_so_far(http, running, kind="final_mark_posted") == finals_before:
                if time.monotonic() - started > 600:
                    break
                await asyncio.sleep(0.25)
            figures["priority"] = {
                "backlog_notices": BACKLOG_NOTICES,
                "backlog_sent_meanwhile": await sent_so_far(http, running) - samples[-1][1],
                "seconds": time.monotonic() - started,
            }
            say(
                f"  the final mark behind the backlog went out after "
                f"{figures['priority']['seconds']:.1f} s"
            )
    finally:
        running.stop()
        for name in running.processes:
            watch.pids.pop(name, None)
        await forget(layout, prefix)
    return figures


def provider_messages(layout: Layout, since_ns: int) -> list[str]:
    """The Message-ID of every e-mail and the client_id of every SMS the sinks accepted since
    `since_ns` (their file names start with the time they arrived)."""
    found = []
    for path in (layout.var / "mail").glob("*.eml"):
        if int(path.name.split("-", 1)[0]) >= since_ns:
            head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
            match = re.search(r"^Message-ID:\s*(\S+)", head, re.M | re.I)
            found.append(f"email {match.group(1) if match else path.name}")
    for path in (layout.var / "sms").glob("*.json"):
        if int(path.name.split("-", 1)[0]) >= since_ns:
            found.append(f"sms {json.loads(path.read_text())['client_id']}")
    return found


async def scale_out(layout: Layout, watch: ProcessWatch) -> dict[str, Any]:
    """Two replicas each of consent and the notifier share the partitions of their topics;
    halfway through the sustained load one of each stops and the other takes its partitions
    over. Every e-mail and SMS must arrive once: none lost, none twice."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    district = plans.plan(SCHOOLS)
    secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
    tokens = {
        s.school_id: issue_token(secret, role="admin", school_id=s.school_id, subject="bench")
        for s in district.schools
    }
    running = start(layout, prefix)
    leaving = start(layout, prefix, ("consent", "notifier"), replica=2)
    for name, process in running.processes.items():
        watch.pids[name] = process.pid
    since = time.time_ns()
    expected = plans.expected_notices(district, plans.MARK_MESSAGES, MARKS_EACH)
    started = time.monotonic()
    try:
        await plans.load(district, running.url("grades"), running.url("consent"), tokens)
        items = plans.marks(district, MARKS_EACH, tag="replicas")
        first = {school: batch[: len(batch) // 2] for school, batch in items.items()}
        rest = {school: batch[len(batch) // 2 :] for school, batch in items.items()}
        async with httpx.AsyncClient(timeout=300) as http:
            say(f"  {sum(map(len, first.values()))} marks to two replicas of each")
            await post_items(http, running.url("grades"), first, tokens)
            while len(provider_messages(layout, since)) < expected // 4:
                await asyncio.sleep(2)
            say("  one consent and one notifier stop; the others take their partitions over")
            leaving.stop()
            await post_items(http, running.url("grades"), rest, tokens)
            deadline = time.monotonic() + 600
            while len(set(provider_messages(layout, since))) < expected:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(2)
            await asyncio.sleep(5)  # a duplicate would come late
    finally:
        leaving.stop()
        running.stop()
        for name in running.processes:
            watch.pids.pop(name, None)
        await forget(layout, prefix)
    received = Counter(provider_messages(layout, since))
    figures = {
        "expected": expected,
        "delivered": len(received),
        "lost": max(expected - len(received), 0),
        "twice": sum(1 for n in received.values() if n > 1),
        "seconds": time.monotonic() - started,
    }
    say(
        f"  {figures['delivered']} of {expected} e-mails and SMS, {figures['lost']} lost, "
        f"{figures['twice']} twice"
    )
    return figures


async def raw_ceiling(bootstrap: str, prefix: str, count: int = 20_000) -> dict[str, float]:
    """The same broker's ceiling: consume from one topic and produce to another, as fast as
    aiokafka goes, with the same durability (acks=all) and a message of the pipeline's size."""
    source, target = f"{prefix}bench.raw.in", f"{prefix}bench.raw.out"
    payload = json.dumps({"value": "x" * 900}).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(
            *[await producer.send(source, payload, key=str(i % 50).encode()) for i in range(count)]
        )
        consumer = AIOKafkaConsumer(
            source,
            bootstrap_servers=bootstrap,
            group_id=f"{prefix}raw",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        started, relayed = time.monotonic(), 0
        try:
            while relayed < count:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                futures = [
                    await producer.send(target, r.value, key=r.key)
                    for records in batch.values()
                    for r in records
                ]
                await asyncio.gather(*futures)
                await consumer.commit()
                relayed += len(futures)
        finally:
            await consumer.stop()
        seconds = time.monotonic() - started
    finally:
        await producer.stop()
    return {"messages": count, "seconds": seconds, "messages_per_second": count / seconds}


async def consumer_lag(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        if not committed:
            return -1
        ends = await consumer.end_offsets(list(committed))
        return sum(max(ends[p] - o.offset, 0) for p, o in committed.items())
    finally:
        await consumer.stop()
        await admin.close()


async def weekly(layout: Layout, watch: ProcessWatch) -> dict[str, Any]:
    """The weekly run for a district of WEEKLY_STUDENTS: the digest's read model fed from the
    topics (schools, periods, students, three marks each, 5 % paper only), then every school's
    week run at once: e-mail digests published, one PDF of paper pages per class."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    schools = max(1, WEEKLY_STUDENTS // 1000)
    district = plans.plan(schools, classes=40, per_class=WEEKLY_STUDENTS // schools // 40, tag="w")
    running = start(layout, prefix, ("digest",))
    watch.pids["digest"] = running.processes["digest"].pid
    events: list[Any] = []
    start_day = plans.monday()
    for school in district.schools:
        events.append(
            SchoolChanged.new(
                SchoolChangedPayload(
                    school_id=school.school_id,
                    name=f"Школа {school.school_id}",
                    timezone="Europe/Moscow",
                ),
                producer="bench",
            )
        )
        events.append(
            PeriodChanged.new(
                PeriodChangedPayload(
                    school_id=school.school_id,
                    period_id="q2",
                    name="2 четверть",
                    period_kind="quarter",
                    school_year="2026/2027",
                    starts_on=start_day.replace(day=1),
                    ends_on=start_day.replace(day=28),
                ),
                producer="bench",
            )
        )
        classes = dict(school.classes)
        for n, student in enumerate(school.students):
            events.append(
                StudentChanged.new(
                    StudentChangedPayload(
                        school_id=school.school_id,
                        student_id=student.student_id,
                        name=f"Ученик {student.student_id}",
                        class_id=student.class_id,
                        class_name=classes[student.class_id],
                        education_level="basic",
                    ),
                    producer="bench",
                )
            )
            if n % 20 == 0:
                events.append(
                    PreferencesChanged.new(
                        PreferencesChangedPayload(
                            school_id=school.school_id,
                            recipient_id=f"g-{student.student_id}",
                            paper_only=True,
                            student_ids=(student.student_id,),
                            effective_at=datetime.now(UTC),
                        ),
                        producer="bench",
                    )
                )
    marks = plans.marks(district, 3, tag="weekly")
    producer = AIOKafkaProducer(bootstrap_servers=layout.kafka_bootstrap, linger_ms=10)
    await producer.start()
    try:
        say(
            f"  feeding the digest: {len(district.students)} students, "
            f"{sum(map(len, marks.values()))} marks"
        )
        sends = [
            await producer.send(topics.of(type(e)), e.model_dump_json().encode(), key=e.key)
            for e in events
        ]
        for school in district.schools:
            for item in marks[school.school_id]:
                event = MarkPosted.new(_mark_payload(school.school_id, item), producer="bench")
                sends.append(
                    await producer.send(
                        topics.of(MarkPosted), event.model_dump_json().encode(), key=event.key
                    )
                )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    while await consumer_lag(layout.kafka_bootstrap, f"{prefix}digest") != 0:
        await asyncio.sleep(1)
    secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
    week = f"{plans.monday():%G}-W{plans.monday():%V}"
    totals = {"students": 0, "paper_pages": 0}
    watch.mark("weekly")
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=900) as http:

            async def run(school_id: str) -> None:
                token = issue_token(secret, role="admin", school_id=school_id, subject="bench")
                response = await http.post(
                    f"{running.url('digest')}/v1/schools/{school_id}/weekly-runs/{week}",
                    headers={"Authorization": f"Bearer {token}"},
                )
                response.raise_for_status()
                report = response.json()
                totals["students"] += report.get("students", 0)
                totals["paper_pages"] += report.get("paper_pages", 0)

            await asyncio.gather(*(run(school.school_id) for school in district.schools))
        seconds = time.monotonic() - started
        watch.mark("weekly-end")
    finally:
        running.stop()
        watch.pids.pop("digest", None)
        await forget(layout, prefix)
    return {
        **totals,
        "schools": schools,
        "seconds": seconds,
        "cpu_percent": watch.cpu_percent("weekly", "weekly-end"),
    }


async def settled(
    http: httpx.AsyncClient, running: Running, bootstrap: str, *, timeout: float
) -> float:
    """Wait until the journal's items have flowed through: every consumer group of the
    services caught up, and the notifier's count of sent notices still, twice in a row; the
    seconds waited."""
    started, calm, last = time.monotonic(), 0, -1.0
    consumers = [name for name in running.processes if name != "grades"]  # it consumes nothing
    groups = [f"{running.prefix}{name}" for name in (*consumers, "account-family")]
    while calm < 2 and time.monotonic() - started < timeout:
        await asyncio.sleep(2)
        sent = await sent_so_far(http, running)
        lags = [await consumer_lag(bootstrap, group) for group in groups]
        calm = calm + 1 if sent == last and all(lag == 0 for lag in lags) else 0
        last = sent
    return time.monotonic() - started


async def account_pages(layout: Layout, watch: ProcessWatch) -> dict[str, Any]:
    """The bench school with its journal through all five services; once the family read
    model holds it, the personal account's pages as families see them (`bench/account.py`)."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    district = plans.plan(SCHOOLS)
    school = district.schools[0]
    secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
    tokens = {
        s.school_id: issue_token(secret, role="admin", school_id=s.school_id, subject="bench")
        for s in district.schools
    }
    token = tokens[school.school_id]
    families = pages.families(school)
    running = start(layout, prefix, PORTS, watch=watch)
    try:
        async with httpx.AsyncClient(timeout=300) as http:
            started = time.monotonic()
            await plans.load(district, running.url("grades"), running.url("consent"), tokens)
            for path, body in pages.parent_of_two_calls(families[0]):
                answer = await http.put(
                    running.url("consent") + path,
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                answer.raise_for_status()
            say(f"  district loaded in {time.monotonic() - started:.0f} s")
            await asyncio.sleep(3)  # the reference data's events settle
            items = plans.marks(district, MARKS_EACH, tag="account")
            measured = {st for family in families for st in family.student_ids}
            items[school.school_id] += pages.quarter(school, measured)
            say(
                f"  {len(items[school.school_id])} journal items, a quarter's for the "
                f"{len(measured)} children measured"
            )
            accepted = await post_items(http, running.url("grades"), items, tokens)
            waited = await settled(http, running, layout.kafka_bootstrap, timeout=600)
            say(f"  {accepted} accepted, through the services in {waited:.0f} s")
            watch.mark("account")
            figures = await pages.measure(
                running.url("account"),
                families,
                token,
                cpu=lambda: watch.cpu_seconds(pages.SERVING),
                say=say,
            )
            watch.mark("account-end")
            figures["cpu_percent"] = watch.cpu_percent("account", "account-end")
            figures["journal_items"] = accepted
            return figures
    finally:
        running.stop()
        for name in running.processes:
            watch.pids.pop(name, None)
        await forget(layout, prefix)


def _mark_payload(school_id: str, item: dict[str, Any]) -> Any:
    from schemas.journal import MarkPostedPayload

    return MarkPostedPayload(
        school_id=school_id,
        student_id=item["student_id"],
        student_name=f"Ученик {item['student_id']}",
        class_name="5А",
        mark_id=item["mark_id"],
        subject_id=item["subject_id"],
        subject_name="Предмет",
        teacher_name="Учитель",
        lesson_date=item["lesson_date"],
        value=item["value"],
        work_type=item["work_type"],
        weight=1.0,
    )


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "reports" in result:
        figure, axis = plt.subplots(figsize=(9, 3.5))
        school_reports.plot(result["reports"], axis)
        figure.tight_layout()
        alone = "fresh" not in result and "account" not in result
        figure.savefig(path if alone else path.with_name(f"{path.stem}-reports.png"), dpi=110)
    if "fresh" not in result and "account" in result:  # the account's pages only
        figure, axis = plt.subplots(figsize=(9, 5))
        pages.plot(result["account"], axis)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    if "fresh" not in result:
        return
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for label, figures in (("fresh", result["fresh"]), ("after history", result["history"])):
        samples = figures.get("samples") or []
        if not samples:
            continue
        times = [datetime.fromisoformat(t) for t, _ in samples]
        seconds = [(t - times[0]).total_seconds() for t in times]
        top.scatter(seconds, [latency for _, latency in samples], s=2, label=label)
        width = 5
        buckets: dict[int, int] = {}
        for s in seconds:
            buckets[int(s // width)] = buckets.get(int(s // width), 0) + 1
        bottom.plot(
            [b * width for b in sorted(buckets)],
            [buckets[b] / width for b in sorted(buckets)],
            label=label,
        )
    top.set_ylabel("latency, s (recorded → accepted)")
    top.set_title("Vestnik benchmark: a quarter's end (every final mark at once)")
    top.legend()
    bottom.set_ylabel("notices/s")
    bottom.set_xlabel("seconds since the first notice")
    bottom.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    if "account" in result:
        figure, axis = plt.subplots(figsize=(9, 5))
        pages.plot(result["account"], axis)
        figure.tight_layout()
        figure.savefig(path.with_name(f"{path.stem}-account.png"), dpi=110)


def summary(result: dict[str, Any], name: str) -> str:
    account = ""
    if "account" in result:
        picture = f"{name}-account" if "fresh" in result else name
        account = f"{pages.summary(result['account'])}\n![the account's pages]({picture}.png)\n"
    if "reports" in result:
        alone = "fresh" not in result and "account" not in result
        picture = name if alone else f"{name}-reports"
        reports = school_reports.summary(result["reports"])
        account += f"\n{reports}\n![the school's reports]({picture}.png)\n"
    if "fresh" not in result:  # the account's pages or the reports only
        return f"# Benchmark {result['date']}\n\nMachine: {result['machine']}.\n\n{account}"
    rows = []
    for label, key in (("fresh", "fresh"), ("after history", "history")):
        f = result[key]
        s, b, lat, p = f["sustained"], f["burst"], f["latency"], f["priority"]
        rows.append(
            f"| {label} | {f['ingest']['marks_per_second']:.0f} | "
            f"{s['notices_per_second']:.0f} | {lat['p50']:.1f} / {lat['p95']:.1f} / "
            f"{lat['p99']:.1f} | {b['notices']:.0f} in {b['seconds_to_last']:.0f} s | "
            f"{p['seconds']:.1f} s | {s['db_commands_per_notice']:.2f} |"
        )
    cpu = result["fresh"]["sustained"]["cpu_percent"]
    memory = result["peak_memory_mb"]
    processes = sorted(set(cpu) | set(memory))
    w, r, x = result["weekly"], result["raw_ceiling"], result["scale_out"]
    fresh = result["fresh"]["sustained"]["notices_per_second"]
    return (
        f"# Benchmark {result['date']}\n\n"
        f"Machine: {result['machine']}. SCALE={SCALE:g}: {result['fresh']['students']} students "
        f"in {SCHOOLS} schools (one guardian each: 55 % e-mail, 20 % e-mail and SMS, 10 % paper "
        f"only, 8 % refused, 7 % no answer).\n\n"
        f"| round | ingest, marks/s | sustained delivery, notices/s | latency p50 / p95 / p99 "
        f"at half rate, s | quarter's end ({len(plans.SUBJECTS)} final marks per student) | "
        f"a final mark behind {BACKLOG_NOTICES} notices | DB commands per notice |\n"
        f"|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"History: {HISTORY_NOTICES} delivered notices in the stores before the second round.\n\n"
        f"| | |\n|---|---|\n"
        f"| raw Kafka relay (aiokafka, same broker) | {r['messages_per_second']:.0f} messages/s "
        f"|\n| pipeline / raw ceiling | {fresh / r['messages_per_second']:.1%} |\n"
        f"| weekly run, {w['students']} students in {w['schools']} schools | {w['seconds']:.0f} s "
        f"({w['students'] - w['paper_pages']} e-mail digests published, {w['paper_pages']} "
        f"paper pages) |\n"
        f"| two replicas each of consent and the notifier, one of each stopped halfway | "
        f"{x['delivered']} of {x['expected']} e-mails and SMS, {x['lost']} lost, "
        f"{x['twice']} twice |\n\n"
        f"| process | CPU during sustained delivery, % of a core | peak memory, MB |\n"
        f"|---|---|---|\n"
        + "\n".join(
            f"| {name} | {cpu.get(name, float('nan')):.0f} | {memory.get(name, float('nan')):.0f} |"
            for name in processes
        )
        + f"\n\n![a quarter's end]({name}.png)\n"
        + (f"\n{account}" if account else "")
    )


async def measure(layout: Layout) -> dict[str, Any]:
    stack = {
        name: pid
        for name in ("kafka", "postgres", "ferretdb", "smtp-sink", "sms-sink")
        if (pid := pid_of(layout.var, name)) is not None
    }
    watch = ProcessWatch(dict(stack))
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, "
        f"Python {platform.python_version()}, local Kafka and FerretDB on PostgreSQL",
        "scale": SCALE,
    }
    try:
        if "pipeline" in PHASES:
            say(f"round 1: a fresh district of {SCHOOLS * 250} students")
            result["fresh"] = await round_of(layout, watch, history=0)
            say(f"round 2: the same, after {HISTORY_NOTICES} notices already delivered")
            result["history"] = await round_of(layout, watch, history=HISTORY_NOTICES)
            say("scale-out: two replicas each of consent and the notifier, one of each stopping")
            result["scale_out"] = await scale_out(layout, watch)
            say("the raw Kafka ceiling")
            prefix = f"bench{uuid.uuid4().hex[:6]}."
            result["raw_ceiling"] = await raw_ceiling(layout.kafka_bootstrap, prefix)
            await forget(layout, prefix)
            say(f"the weekly run for {WEEKLY_STUDENTS} students")
            result["weekly"] = await weekly(layout, watch)
        if "account" in PHASES:
            say("the personal account's pages on the bench school")
            result["account"] = await account_pages(layout, watch)
        if "reports" in PHASES:
            say(f"the school's reports for {school_reports.STUDENTS} students")
            result["reports"] = await school_reports.measure(layout.mongo_url, say)
    finally:
        watch.stop()
    result["peak_memory_mb"] = watch.peak_mb
    return result


def main() -> None:
    layout = Layout.from_env()
    started: list[ManagedProcess] = []
    began = time.monotonic()
    try:
        # Outside the event loop: the stack's health checks run loops of their own.
        for process in infrastructure(layout):
            state = process.up()
            say(f"{process.name:10} {state}")
            if state.startswith("started"):
                started.append(process)
        result = asyncio.run(measure(layout))
    finally:
        for process in reversed(started):
            say(f"{process.name:10} {process.down()}")
    result["total_seconds"] = time.monotonic() - began
    rounds = [key for key in ("fresh", "history") if key in result]
    samples = {key: result[key].pop("samples", []) for key in rounds}
    # The default run is the day's; another scale, or only one phase, says so.
    only = "-".join(sorted(PHASES))
    name = result["date"] if "pipeline" in PHASES else f"{result['date']}-{only}"
    name = name if SCALE == DEFAULT_SCALE else f"{name}-scale-{SCALE:g}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    for key in rounds:
        result[key]["samples"] = samples[key]
    plot(result, RESULTS / f"{name}.png")
    (RESULTS / f"{name}.md").write_text(summary(result, name))
    print("\n" + summary(result, name))
    say(f"done in {result['total_seconds'] / 60:.1f} minutes")


if __name__ == "__main__":
    main()
