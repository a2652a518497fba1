"""`make bench`: a synthetic district through the whole pipeline on the local stack.

Measures ingest (marks/s the journal API accepts), end-to-end delivery (notifications/s the
SMTP and SMS sinks accept) and its latency from the mark being recorded to the provider
accepting it, the raw Kafka ceiling on the same broker (an aiokafka consume→produce relay), the
weekly digest run (e-mail and paper) and each service's peak memory. Writes
`bench/results/<date>.json`, `<date>.md` and `<date>.png`.

A benchmark, not a test: it asserts nothing, it measures. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr

from deploy.local.processes import ManagedProcess
from deploy.local.stack import ROOT, Layout, http_ok, infrastructure
from schemas import MarkPosted, NotificationSent, Topics
from services.shared.auth import issue_token
from services.shared.config import DEV_JWT_SECRET

SCHOOLS, CLASSES, STUDENTS_PER_CLASS = 4, 10, 25  # 1,000 students
MARKS_PER_STUDENT = 5
DELIVERY_WINDOW = 180.0  # seconds of deliveries measured: keeps make bench under 15 minutes
BATCH = 500
RESULTS = ROOT / "bench" / "results"
WRITTEN = {"form": "written", "document_number": "1", "document_date": "2026-09-01",
           "accepted_by": "Секретарь"}  # fmt: skip


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_memory_mb(self) -> float:
        """The process's high-water mark of resident memory (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def start_services(layout: Layout, prefix: str, log_dir: Path) -> dict[str, Service]:
    """The four services as processes of their own, on a fresh prefix and fresh databases."""
    running = {}
    for offset, name in enumerate(("grades", "consent", "notifier", "digest")):
        port = 18001 + offset
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
            "VESTNIK_SMS_PER_SECOND": "200",
            "VESTNIK_SMTP_CONCURRENCY": "8",
            "VESTNIK_NOTIFIER_POLL_SECONDS": "0.5",
            "VESTNIK_DIGEST_SCHEDULER": "false",
            "VESTNIK_LOG_LEVEL": "WARNING",
        }
        log = (log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name], env=env, stdout=log,
            stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        running[name] = Service(name, port, process)
    deadline = time.monotonic() + 120
    for service in running.values():
        while not http_ok(f"{service.url}/healthz"):
            if time.monotonic() > deadline or service.process.poll() is not None:
                raise RuntimeError(f"{service.name} did not start: see {log_dir}")
            time.sleep(0.5)
    return running


# Guardians: e-mail 55 %, e-mail and SMS 20 %, paper only 10 %, refused 8 %, no answer 7 %.
MIX = ((0.55, "email"), (0.75, "email+sms"), (0.85, "paper"), (0.93, "refused"), (1.0, "none"))


def district() -> dict[str, Any]:
    """Schools, classes, students and one guardian each, with a realistic mix of choices."""
    rng = random.Random(2026)
    schools = []
    for s in range(SCHOOLS):
        classes = []
        for c in range(CLASSES):
            students = []
            for n in range(STUDENTS_PER_CLASS):
                roll = rng.random()
                choice = next(c for limit, c in MIX if roll < limit)
                students.append({"id": f"s{s}-c{c}-st{n:02d}", "guardian": choice})
            classes.append({"id": f"s{s}-c{c}", "name": f"{5 + c % 7}{'АБВГ'[c % 4]}",
                            "students": students})  # fmt: skip
        schools.append({"id": f"bench-school-{s}", "classes": classes})
    return {"schools": schools}


async def load_district(
    services: dict[str, Service], plan: dict[str, Any], tokens: dict[str, str]
) -> None:
    monday = date.today() - timedelta(days=date.today().weekday())
    async with httpx.AsyncClient(timeout=60) as http:
        for school in plan["schools"]:
            auth = {"Authorization": f"Bearer {tokens[school['id']]}"}
            base = f"{services['grades'].url}/v1/schools/{school['id']}"
            reference: list[tuple[str, dict[str, Any]]] = [
                ("", {"name": f"Школа {school['id']}", "timezone": "Europe/Moscow"}),
                ("/subjects/math", {"name": "Математика"}),
                ("/subjects/russian", {"name": "Русский язык"}),
                ("/periods/q2", {"name": "2 четверть", "period_kind": "quarter",
                                 "school_year": f"{monday.year}/{monday.year + 1}",
                                 "starts_on": (monday - timedelta(days=30)).isoformat(),
                                 "ends_on": (monday + timedelta(days=30)).isoformat()}),
            ]  # fmt: skip
            for klass in school["classes"]:
                reference.append((f"/classes/{klass['id']}",
                                  {"name": klass["name"], "education_level": "basic"}))  # fmt: skip
            reference.append(("/teachers/t-1", {"name": "Учитель", "assignments": [
                {"class_id": k["id"], "subject_id": subject}
                for k in school["classes"] for subject in ("math", "russian")]}))  # fmt: skip
            for klass in school["classes"]:
                for student in klass["students"]:
                    body = {"name": f"Ученик {student['id']}", "class_id": klass["id"]}
                    reference.append((f"/students/{student['id']}", body))
            for path, body in reference:
                response = await http.put(base + path, json=body, headers=auth)
                response.raise_for_status()
            await load_guardians(http, services["consent"].url, school, auth)
            say(f"  {school['id']}: reference and guardians loaded")


async def load_guardians(
    http: httpx.AsyncClient, consent_url: str, school: dict[str, Any], auth: dict[str, str]
) -> None:
    base = f"{consent_url}/v1/schools/{school['id']}"
    semaphore = asyncio.Semaphore(8)

    async def one(student: dict[str, Any]) -> None:
        guardian, choice = f"g-{student['id']}", student["guardian"]
        calls: list[tuple[str, dict[str, Any]]] = [(f"/recipients/{guardian}", {
            "kind": "guardian", "name": f"Родитель {student['id']}",
            "student_ids": [student["id"]]})]  # fmt: skip
        if choice != "none":
            calls.append((f"/consents/c-{guardian}", {
                "recipient_id": guardian, "student_id": student["id"],
                "decision": "refused" if choice == "refused" else "granted",
                "operator": "Школа", "purpose": "информирование", "data_categories": ["оценки"],
                "actions": ["хранение"], "valid_from": "2026-09-01",
                "revocation_procedure": "заявление", "proof": WRITTEN}))  # fmt: skip
        if choice in ("email", "email+sms", "refused"):
            calls.append((f"/recipients/{guardian}/contacts/email",
                          {"address": f"{guardian}@example.org", "proof": WRITTEN}))  # fmt: skip
        if choice == "email+sms":
            calls.append((f"/recipients/{guardian}/contacts/sms",
                          {"address": f"+7916{random.randint(1000000, 9999999)}",
                           "proof": WRITTEN}))  # fmt: skip
            calls.append((f"/recipients/{guardian}/preferences",
                          {"channels": {"marks": ["email", "sms", "inbox"]}}))  # fmt: skip
        if choice == "paper":
            calls.append((f"/recipients/{guardian}/preferences",
                          {"paper_only_reason": "нет интернета"}))  # fmt: skip
        async with semaphore:
            for path, body in calls:
                (await http.put(base + path, json=body, headers=auth)).raise_for_status()

    await asyncio.gather(*(one(s) for k in school["classes"] for s in k["students"]))


async def push_marks(
    services: dict[str, Service], plan: dict[str, Any], tokens: dict[str, str]
) -> dict[str, float]:
    """Every student's week of marks, in batches of 500; returns the ingest figures."""
    monday = date.today() - timedelta(days=date.today().weekday())
    rng = random.Random(7)
    items: list[tuple[str, dict[str, Any]]] = []
    for school in plan["schools"]:
        for klass in school["classes"]:
            for student in klass["students"]:
                for m in range(MARKS_PER_STUDENT):
                    items.append((school["id"], {
                        "kind": "mark", "mark_id": f"{student['id']}-m{m}",
                        "student_id": student["id"], "subject_id": ("math", "russian")[m % 2],
                        "teacher_id": "t-1",
                        "lesson_date": (monday + timedelta(days=m % 5)).isoformat(),
                        "value": rng.choice("2345"), "work_type": "ответ на уроке"}))  # fmt: skip
    started = time.monotonic()
    accepted = 0
    async with httpx.AsyncClient(timeout=120) as http:
        for school in plan["schools"]:
            mine = [item for school_id, item in items if school_id == school["id"]]
            for start in range(0, len(mine), BATCH):
                response = await http.post(
                    f"{services['grades'].url}/v1/schools/{school['id']}/journal",
                    json={"items": mine[start : start + BATCH]},
                    headers={"Authorization": f"Bearer {tokens[school['id']]}"},
                )
                response.raise_for_status()
                accepted += response.json()["summary"]["accepted"]
        say(f"  {accepted} marks accepted")
    seconds = time.monotonic() - started
    return {"marks": accepted, "seconds": seconds, "marks_per_second": accepted / seconds}


async def read_all(bootstrap: str, topic: str, idle_seconds: float = 3.0) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    records: list[Any] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            if not batch:
                return records
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()


async def wait_for_deliveries(
    bootstrap: str, topics: Topics, expected: int, window: float
) -> list[Any]:
    """Watch the notifier's status topic until `expected` deliveries or `window` seconds have
    passed; return its NotificationSent records. On the local stack FerretDB (a SQLite
    backend that scans collections on update) bounds the rate, so the window keeps the
    benchmark short and the figures say what arrived within it."""
    topic = topics.of(NotificationSent)
    started = time.monotonic()
    while True:
        sent = [r for r in await read_all(bootstrap, topic, idle_seconds=1.0)
                if dict(r.headers).get("x-event-type") == b"NotificationSent"]  # fmt: skip
        elapsed = time.monotonic() - started
        say(f"  {len(sent)} notifications delivered after {elapsed:.0f} s")
        if len(sent) >= expected or elapsed > window:
            return sent
        await asyncio.sleep(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def delivery_figures(bootstrap: str, topics: Topics, sent: list[Any]) -> dict[str, Any]:
    """Latency from the mark being recorded (journal.marks.v1) to the provider's acceptance."""
    recorded = {}
    for record in await read_all(bootstrap, topics.of(MarkPosted)):
        mark = MarkPosted.model_validate_json(record.value)
        recorded[str(mark.event_id)] = mark.recorded_at
    samples = []
    for record in sent:
        delivered = NotificationSent.model_validate_json(record.value).payload
        source = delivered.dedupe_key.split(":")[0]
        if source in recorded:
            latency = (delivered.sent_at - recorded[source]).total_seconds()
            samples.append((delivered.sent_at, latency, delivered.channel))
    samples.sort()
    latencies = [latency for _, latency, _ in samples]
    span = (samples[-1][0] - samples[0][0]).total_seconds() if len(samples) > 1 else float("nan")
    by_channel: dict[str, int] = {}
    for _, _, channel in samples:
        by_channel[channel] = by_channel.get(channel, 0) + 1
    return {
        "delivered": len(samples), "by_channel": by_channel,
        "notifications_per_second": len(samples) / span if span else float("nan"),
        "latency_seconds": {"p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95),
                            "p99": percentile(latencies, 0.99), "max": max(latencies, default=0)},
        "samples": [(t.isoformat(), latency) for t, latency, _ in samples],
    }  # fmt: skip


async def raw_ceiling(bootstrap: str, prefix: str, count: int = 20_000) -> dict[str, float]:
    """The same broker's ceiling: consume from one topic and produce to another, as fast as
    aiokafka goes, with the same durability (acks=all) and a message of the pipeline's size."""
    source, target = f"{prefix}bench.raw.in", f"{prefix}bench.raw.out"
    payload = json.dumps({"value": "x" * 900}).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(source, payload, key=str(i % 50).encode())
                               for i in range(count)])  # fmt: skip
        consumer = AIOKafkaConsumer(
            source, bootstrap_servers=bootstrap, group_id=f"{prefix}raw",
            auto_offset_reset="earliest", enable_auto_commit=False,
        )  # fmt: skip
        await consumer.start()
        started, relayed = time.monotonic(), 0
        try:
            while relayed < count:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                futures = [await producer.send(target, r.value, key=r.key)
                           for records in batch.values() for r in records]  # fmt: skip
                await asyncio.gather(*futures)
                await consumer.commit()
                relayed += len(futures)
        finally:
            await consumer.stop()
        seconds = time.monotonic() - started
    finally:
        await producer.stop()
    return {"messages": count, "seconds": seconds, "messages_per_second": count / seconds}


async def weekly_run(services: dict[str, Service], plan: dict[str, Any],
                     tokens: dict[str, str]) -> dict[str, float]:  # fmt: skip
    week = f"{date.today():%G}-W{date.today():%V}"
    started = time.monotonic()
    students = pages = 0
    printing = 0.0
    async with httpx.AsyncClient(timeout=600) as http:
        for school in plan["schools"]:
            response = await http.post(
                f"{services['digest'].url}/v1/schools/{school['id']}/weekly-runs/{week}",
                headers={"Authorization": f"Bearer {tokens[school['id']]}"},
            )
            response.raise_for_status()
            report = response.json()
            students += report.get("students", 0)
            pages += report.get("paper_pages", 0)
            printing += report.get("seconds", 0.0)
            say(f"  {school['id']}: {report.get('students')} students, "
                f"{report.get('paper_pages')} pages, {report.get('seconds', 0):.1f} s")  # fmt: skip
    seconds = time.monotonic() - started
    return {"students": students, "paper_pages": pages, "seconds": seconds,
            "students_per_second": students / seconds,
            "paper_pages_per_second": pages / printing if printing else float("nan")}  # fmt: skip


def plot(samples: list[tuple[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [datetime.fromisoformat(t) for t, _ in samples]
    start = times[0]
    seconds = [(t - start).total_seconds() for t in times]
    latencies = [latency for _, latency in samples]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.scatter(seconds, latencies, s=2)
    top.set_ylabel("latency, s (recorded → accepted)")
    top.set_title("Vestnik benchmark: notifications delivered")
    width = 5
    buckets: dict[int, int] = {}
    for s in seconds:
        buckets[int(s // width)] = buckets.get(int(s // width), 0) + 1
    bottom.bar([b * width for b in sorted(buckets)], [buckets[b] / width for b in sorted(buckets)],
               width=width, align="edge")  # fmt: skip
    bottom.set_ylabel("notifications/s")
    bottom.set_xlabel("seconds since the first delivery")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def summary(result: dict[str, Any]) -> str:
    i, d, r, w = result["ingest"], result["delivery"], result["raw_ceiling"], result["weekly"]
    lat = d["latency_seconds"]
    memory = ", ".join(f"{name} {mb:.0f} MB" for name, mb in result["peak_memory_mb"].items())
    return (
        f"# Benchmark {result['date']}\n\n"
        f"Machine: {result['machine']}\n\n"
        f"District: {result['district']['students']} students in {SCHOOLS} schools, "
        f"{MARKS_PER_STUDENT} marks each.\n\n"
        f"| measure | value |\n|---|---|\n"
        f"| ingest (journal API) | {i['marks_per_second']:.0f} marks/s |\n"
        f"| delivery (SMTP + SMS + inbox) | {d['notifications_per_second']:.1f} notifications/s "
        f"({d['delivered']} delivered in the first {DELIVERY_WINDOW:.0f} s) |\n"
        f"| latency p50 / p95 / p99 | {lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} s |\n"
        f"| raw Kafka relay (aiokafka) | {r['messages_per_second']:.0f} messages/s |\n"
        f"| pipeline / raw ceiling | {result['pipeline_to_ceiling']:.2%} |\n"
        f"| weekly run ({w['students']} students) | {w['seconds']:.1f} s, "
        f"{w['paper_pages']} paper pages, {w['paper_pages_per_second']:.0f} pages per second "
        f"of run time (publishing included) |\n"
        f"| peak memory | {memory} |\n\n"
        f"![latency and throughput]({result['date']}.png)\n"
    )


async def measure(layout: Layout, prefix: str) -> dict[str, Any]:
    """Everything timed, on the four services started here (and stopped again)."""
    log_dir = layout.var / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    services: dict[str, Service] = {}
    try:
        services = start_services(layout, prefix, log_dir)
        say(f"services up on {prefix!r}")
        plan = district()
        secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
        tokens = {s["id"]: issue_token(secret, role="admin", school_id=s["id"], subject="bench")
                  for s in plan["schools"]}  # fmt: skip
        students = SCHOOLS * CLASSES * STUDENTS_PER_CLASS
        say(f"loading the district: {students} students and their guardians")
        await load_district(services, plan, tokens)
        say("pushing marks through the journal API")
        ingest = await push_marks(services, plan, tokens)
        say(f"watching the deliveries for up to {DELIVERY_WINDOW:.0f} s")
        sent = await wait_for_deliveries(layout.kafka_bootstrap, Topics(prefix),
                                         expected=int(ingest["marks"] * 1.5),
                                         window=DELIVERY_WINDOW)  # fmt: skip
        delivery = await delivery_figures(layout.kafka_bootstrap, Topics(prefix), sent)
        memory = {name: s.peak_memory_mb() for name, s in services.items()}
        # The rest of the backlog would compete with what comes next: stop its consumers.
        for name in ("consent", "notifier"):
            services[name].process.terminate()
        say("the raw Kafka ceiling")
        ceiling = await raw_ceiling(layout.kafka_bootstrap, prefix)
        say("the weekly digest run")
        weekly = await weekly_run(services, plan, tokens)
        memory.update({name: services[name].peak_memory_mb() for name in ("grades", "digest")})
    finally:
        for service in services.values():
            service.process.terminate()
        for service in services.values():
            service.process.wait(timeout=30)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, "
                   f"Python {platform.python_version()}, Kafka and FerretDB local",
        "district": {"schools": SCHOOLS, "students": students, "marks": ingest["marks"]},
        "ingest": ingest,
        "delivery": delivery,
        "raw_ceiling": ceiling,
        "pipeline_to_ceiling": (
            delivery["notifications_per_second"] / ceiling["messages_per_second"]
        ),
        "weekly": weekly,
        "peak_memory_mb": memory,
    }  # fmt: skip


def main() -> None:
    layout = Layout.from_env()
    started: list[ManagedProcess] = []
    try:
        # Outside the event loop: the stack's health checks run loops of their own.
        for process in infrastructure(layout):
            state = process.up()
            say(f"{process.name:10} {state}")
            if state.startswith("started"):
                started.append(process)
        result = asyncio.run(measure(layout, f"bench{uuid.uuid4().hex[:6]}."))
    finally:
        for process in reversed(started):
            say(f"{process.name:10} {process.down()}")
    samples = result["delivery"].pop("samples")
    today = result["date"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{today}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    plot(samples, RESULTS / f"{today}.png")
    (RESULTS / f"{today}.md").write_text(summary(result))
    print("\n" + summary(result))


if __name__ == "__main__":
    main()
