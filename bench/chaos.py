"""`make chaos`: the whole pipeline under faults (issue 16), on the local stack.

A district with guardians in every consent state gets `CHAOS_ITEMS` journal items (marks, final
marks, corrections, retractions) through the grades API in batches over a few minutes, with
consent revocations and contact changes mid-stream. Meanwhile a fault injector kills each
service with `kill -9` at random moments and restarts it, restarts Kafka, FerretDB and
PostgreSQL, makes the SMTP sink answer 451/421 and drop connections for a stretch, the SMS sink
answer 429 and refuse some numbers, and puts poison messages on the topics the services read.
Then, once quiet, it checks from `notify.requests.v1`, `notify.status.v1`, the sinks' files and
the dead-letter topics: 0 lost, 0 duplicate, 0 sent after a revocation, 0 to a contact replaced
before the send, every poison message dead-lettered, and the digest's read model equal to one
rebuilt from the topics. Writes `bench/results/<date>-chaos.json`
(`-chaos-<items>` for another size) and `.md`; exits 1 when a check fails.

`CHAOS_ITEMS` (default 10,000) sizes the run; `CHAOS_SEED` (16) picks the fault moments.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from bench import district as plans
from bench.probes import scrape
from bench.run import (
    RESULTS,
    SERVICES,
    Running,
    consumer_lag,
    forget,
    read_all,
    say,
    start,
)
from deploy.local.processes import ManagedProcess
from deploy.local.sinks import faults as sink_faults
from deploy.local.stack import Layout, infrastructure
from schemas import Topics
from schemas.consent import ConsentRevoked
from schemas.journal import FinalMarkPosted, MarkPosted, SchoolChanged
from schemas.notify import NotificationRequested, NotificationSent
from services.notifier.domain import message_id_for
from services.shared.auth import issue_token
from services.shared.config import DEV_JWT_SECRET
from services.shared.mongo import create_mongo_client

DEFAULT_ITEMS = 10_000
ITEMS = int(os.environ.get("CHAOS_ITEMS", str(DEFAULT_ITEMS)))
SEED = int(os.environ.get("CHAOS_SEED", "16"))
ITEMS_PER_STUDENT = 10
BATCH = 100
KILLS_EACH = 3
POISON_EACH = 2
QUIET_TIMEOUT = 900.0
# Each guardian's state, by share: every consent state, and the two that change mid-stream.
STATES = (
    (0.30, "email"),
    (0.50, "email+sms"),
    (0.60, "sms"),
    (0.68, "paper"),
    (0.75, "refused"),
    (0.80, "none"),
    (0.90, "revoked"),  # e-mail and SMS granted, revoked mid-stream
    (1.00, "moved"),  # e-mail and SMS granted, both contacts replaced mid-stream
)
# Topics a service reads, so a poison message there must end in `<topic>.dlt`.
POISONED = (MarkPosted, FinalMarkPosted, SchoolChanged, ConsentRevoked, NotificationRequested)
# Retries within the run's minutes, not the production half-minute first delay.
SERVICE_ENV = {
    "VESTNIK_NOTIFIER_RETRY_FIRST_DELAY_SECONDS": "1",
    "VESTNIK_NOTIFIER_RETRY_MAX_ATTEMPTS": "8",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Fault:
    at: str
    kind: str
    target: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Guardian:
    school_id: str
    student_id: str
    state: str
    email: str | None = None
    phone: str | None = None
    # When the API accepted the mid-stream change (ns since the epoch), and the old contacts.
    changed_ns: int | None = None
    old: tuple[str, ...] = ()

    @property
    def recipient_id(self) -> str:
        return f"g-{self.student_id}"


@dataclass
class Chaos:
    layout: Layout
    running: Running
    stack: dict[str, ManagedProcess]
    rng: random.Random
    faults: list[Fault] = field(default_factory=list)
    poison: dict[str, list[bytes]] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    # One kill of a service at a time: a second one would start a twin on its port.
    locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))

    def record(self, kind: str, target: str, detail: str = "", seconds: float = 0.0) -> None:
        self.faults.append(Fault(now(), kind, target, detail, seconds))
        say(f"  fault: {kind} {target} {detail}".rstrip())

    async def kill(self, name: str, *, mid_send: bool = False) -> None:
        """`kill -9`, a pause, a start. `mid_send`: only once messages are reaching the sinks
        (the notifier mid-conversation with the SMTP server or the SMS gateway)."""
        async with self.locks[name]:
            deadline = time.monotonic() + 60
            while mid_send and not in_flight(self.layout) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await self._kill(name)

    async def _kill(self, name: str) -> None:
        process = self.running.processes[name]
        sending = in_flight(self.layout)  # evidence of a kill mid-conversation with the sinks
        process.send_signal(signal.SIGKILL)
        process.wait()
        started = time.monotonic()
        detail = f"pid {process.pid}" + (
            f"; {sending} messages reached the sinks in the second before"
            if name == "notifier"
            else ""
        )
        self.record("kill -9", name, detail)
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        self.restarts[name] += 1
        log = self.layout.var / "bench" / f"{self.running.prefix}{name}-1.log"
        if log.exists():  # `start` opens the log afresh: keep the killed one's
            log.rename(log.with_name(f"{log.name}.{self.restarts[name]}"))
        for attempt in range(3):
            try:
                again = await asyncio.to_thread(start, self.layout, self.running.prefix, (name,))
                break
            except RuntimeError as error:  # Kafka or the store restarting meanwhile
                self.record("restart failed", name, str(error))
                if attempt == 2:
                    raise
        self.running.processes[name] = again.processes[name]
        self.record("restarted", name, "", time.monotonic() - started)

    async def restart(self, name: str) -> None:
        process = self.stack[name]
        started = time.monotonic()
        self.record("stop", name, await asyncio.to_thread(process.down))
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        state = await asyncio.to_thread(process.up)
        self.record("start", name, state, time.monotonic() - started)

    def smtp(self, reply_code: int | None, drop: bool, seconds: float) -> None:
        sink_faults.set_smtp_faults(
            self.layout.mail_dir,
            sink_faults.SmtpFaults(reply_code=reply_code, drop=drop, until=time.time() + seconds),
        )
        what = f"answers {reply_code}" if reply_code else "drops connections at RCPT"
        self.record("smtp sink", what, f"for {seconds:.0f} s", seconds)

    def sms(self, throttle: float, failing: tuple[str, ...]) -> None:
        sink_faults.set_sms_faults(
            self.layout.sms_dir,
            sink_faults.SmsFaults(throttle_until=time.time() + throttle, failing_numbers=failing),
        )
        self.record("sms sink", "429", f"for {throttle:.0f} s; {len(failing)} numbers refused")

    async def poison_topics(self) -> None:
        topics = Topics(self.running.prefix)
        producer = AIOKafkaProducer(bootstrap_servers=self.layout.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for event in POISONED:
                topic = topics.of(event)
                for n in range(POISON_EACH):
                    # Half not even UTF-8, half JSON that is no envelope.
                    marker = f"chaos-poison-{uuid.uuid4().hex}".encode()
                    value = marker + b"\xff\xfe" if n % 2 == 0 else b'{"x": "' + marker + b'"}'
                    await producer.send_and_wait(topic, value, key=b"poison")
                    self.poison.setdefault(topic, []).append(marker)
        finally:
            await producer.stop()
        self.record("poison", "topics", f"{POISON_EACH} each on {len(POISONED)} topics")


def in_flight(layout: Layout) -> int:
    since = time.time_ns() - 1_000_000_000
    return sum(
        1
        for directory, suffix in ((layout.mail_dir, ".eml"), (layout.sms_dir, ".json"))
        for _, arrived in arrivals(directory, suffix)
        if arrived > since
    )


def arrivals(directory: Path, suffix: str) -> list[tuple[Path, int]]:
    """A sink's messages and when each arrived (their names start with it; `faults.json`
    and half-written files do not)."""
    found = []
    for path in directory.glob(f"*{suffix}"):
        stamp = path.name.split("-", 1)[0]
        if stamp.isdigit():
            found.append((path, int(stamp)))
    return found


def states(district: plans.District, rng: random.Random) -> dict[str, Guardian]:
    guardians = {}
    for n, (school, student) in enumerate(district.students):
        roll = rng.random()
        state = next(state for limit, state in STATES if roll < limit)
        guardian = Guardian(school.school_id, student.student_id, state)
        if state in ("email", "email+sms", "revoked", "moved"):
            guardian.email = f"g-{student.student_id}@example.org"
        if state in ("sms", "email+sms", "revoked", "moved"):
            guardian.phone = f"+7916{1_000_000 + n:07d}"
        guardians[student.student_id] = guardian
    return guardians


def calls_for(guardians: dict[str, Guardian]) -> Any:
    def calls(school_id: str, student: plans.Student) -> list[tuple[str, dict[str, Any]]]:
        g = guardians[student.student_id]
        base = f"/v1/schools/{school_id}/recipients/{g.recipient_id}"
        body = {"kind": "guardian", "name": f"Родитель {g.student_id}"}
        out: list[tuple[str, dict[str, Any]]] = [(base, {**body, "student_ids": [g.student_id]})]
        if g.state != "none":
            decision = "refused" if g.state == "refused" else "granted"
            out.append(
                (
                    f"/v1/schools/{school_id}/consents/c-{g.recipient_id}",
                    plans.consent(g.recipient_id, g.student_id, decision),
                )
            )
        if g.state == "refused":  # a contact given, and still nothing may be sent
            out.append(
                (
                    f"{base}/contacts/email",
                    {"address": f"{g.recipient_id}@example.org", "proof": plans.WRITTEN},
                )
            )
        for channel, address in (("email", g.email), ("sms", g.phone)):
            if address:
                out.append(
                    (f"{base}/contacts/{channel}", {"address": address, "proof": plans.WRITTEN})
                )
        prefs: dict[str, Any] = {"sms_quiet_hours": {"start": "00:00", "end": "00:00"}}
        if g.state == "sms":
            prefs["channels"] = {"marks": ["sms", "inbox"]}
        elif g.phone:
            prefs["channels"] = {"marks": ["email", "sms", "inbox"]}
        if g.state == "paper":
            prefs["paper_only_reason"] = "нет интернета"
        out.append((f"{base}/preferences", prefs))
        return out

    return calls


def journal(district: plans.District, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(school, item) in posting order: marks and final marks first, shuffled; then the
    corrections and retractions of some of those marks."""
    first: list[tuple[str, dict[str, Any]]] = []
    later: list[tuple[str, dict[str, Any]]] = []
    marks = plans.marks(district, ITEMS_PER_STUDENT - 3, tag="chaos")
    finals = plans.final_marks(district, tag="chaos")
    for school in district.schools:
        own = marks[school.school_id]
        first += [(school.school_id, item) for item in own]
        by_student: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in finals[school.school_id]:
            by_student[item["student_id"]].append(item)
        first += [(school.school_id, items[0]) for items in by_student.values()]
        for item in own[0 :: ITEMS_PER_STUDENT - 3]:  # each student's first mark
            changed = {**item, "value": "5" if item["value"] != "5" else "4"}
            later.append((school.school_id, changed))
        for item in own[1 :: ITEMS_PER_STUDENT - 3]:  # and second mark
            later.append(
                (
                    school.school_id,
                    {"kind": "mark_retraction", "mark_id": item["mark_id"], "reason": "ошибка"},
                )
            )
    rng.shuffle(first)
    rng.shuffle(later)
    return first + later


async def post(http: httpx.AsyncClient, url: str, token: str, items: list[dict[str, Any]]) -> None:
    """One batch, again and again until the journal takes it (a vendor's retry): the same
    items again are duplicates, which grades folds."""
    while True:
        try:
            response = await http.post(
                url, json={"items": items}, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 200:
                rejected = response.json()["summary"]["rejected"]
                if rejected:
                    say(f"  {rejected} items rejected: {response.text[:300]}")
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)


async def consent_call(
    http: httpx.AsyncClient, method: str, url: str, token: str, body: dict[str, Any]
) -> int:
    """A staff member's change, again until consent answers; when it was accepted (ns)."""
    while True:
        try:
            response = await http.request(
                method, url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code < 300:
                return time.time_ns()
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)


async def feed(
    chaos: Chaos,
    guardians: dict[str, Guardian],
    items: list[tuple[str, dict[str, Any]]],
    tokens: dict[str, str],
    seconds: float,
) -> None:
    """The journal's items in batches spread over `seconds`, with the revocations and contact
    changes among them."""
    batches = [items[n : n + BATCH] for n in range(0, len(items), BATCH)]
    changing = [g for g in guardians.values() if g.state in ("revoked", "moved")]
    chaos.rng.shuffle(changing)
    # The changes fall between 20 % and 80 % of the batches.
    when: dict[int, list[Guardian]] = defaultdict(list)
    for n, guardian in enumerate(changing):
        when[int(len(batches) * (0.2 + 0.6 * n / max(len(changing), 1)))].append(guardian)
    pause = seconds / max(len(batches), 1)
    consent = chaos.running.url("consent")
    async with httpx.AsyncClient(timeout=60) as http:
        for n, batch in enumerate(batches):
            started = time.monotonic()
            by_school: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for school_id, item in batch:
                by_school[school_id].append(item)
            grades = chaos.running.url("grades")
            await asyncio.gather(
                *(
                    post(http, f"{grades}/v1/schools/{s}/journal", tokens[s], b)
                    for s, b in by_school.items()
                )
            )
            for g in when.get(n, []):
                base = f"{consent}/v1/schools/{g.school_id}"
                token = tokens[g.school_id]
                if g.state == "revoked":
                    g.changed_ns = await consent_call(
                        http,
                        "POST",
                        f"{base}/consents/c-{g.recipient_id}/revocation",
                        token,
                        {"reason": "отзыв"},
                    )
                else:
                    g.old = tuple(a for a in (g.email, g.phone) if a)
                    g.email = f"new-{g.recipient_id}@example.org"
                    g.phone = "+7917" + (g.phone or "+79160000000")[-7:]
                    recipient = f"{base}/recipients/{g.recipient_id}/contacts"
                    first = await consent_call(
                        http,
                        "PUT",
                        f"{recipient}/email",
                        token,
                        {"address": g.email, "proof": plans.WRITTEN},
                    )
                    await consent_call(
                        http,
                        "PUT",
                        f"{recipient}/sms",
                        token,
                        {"address": g.phone, "proof": plans.WRITTEN},
                    )
                    g.changed_ns = first
            if n % 10 == 0:
                say(f"  batch {n + 1} of {len(batches)} posted")
            await asyncio.sleep(max(pause - (time.monotonic() - started), 0))


async def inject(chaos: Chaos, seconds: float, failing: tuple[str, ...]) -> None:
    """Every fault at a random moment within `seconds`, on tracks of their own that overlap:
    one per service (its kills one after another), the stack's restarts, the sinks."""
    rng = chaos.rng

    async def sync(action: Any) -> None:
        action()

    tracks: list[list[tuple[float, Any]]] = [
        [(rng.uniform(0.05, 0.9), lambda n=name: chaos.kill(n)) for _ in range(KILLS_EACH)]
        for name in SERVICES
    ]
    tracks.append([(rng.uniform(0.1, 0.8), lambda: chaos.kill("notifier", mid_send=True))])
    tracks.append(
        [
            (0.30, lambda: chaos.restart("kafka")),
            (0.50, lambda: chaos.restart("ferretdb")),
            (0.65, lambda: chaos.restart("postgres")),
        ]
    )
    tracks.append(
        [
            (0.20, lambda: sync(lambda: chaos.smtp(451, False, 10))),
            (0.25, chaos.poison_topics),
            (0.35, lambda: sync(lambda: chaos.sms(10, failing))),
            (0.45, lambda: sync(lambda: chaos.smtp(421, False, 8))),
            (0.70, lambda: sync(lambda: chaos.smtp(None, True, 8))),
        ]
    )
    began = time.monotonic()

    async def play(track: list[tuple[float, Any]]) -> None:
        for share, action in sorted(track, key=lambda fault: fault[0]):
            await asyncio.sleep(max(began + share * seconds - time.monotonic(), 0))
            await action()

    # The refused numbers stay refused to the end: their SMS must end as failed, not vanish.
    await asyncio.gather(*(play(track) for track in tracks))


async def quiet(chaos: Chaos, requests_topic: str, status_topic: str) -> float:
    """Until every consumer group is caught up, the notifier's outbox empty and every request
    ended (sent, failed or cancelled), or nothing moved for two minutes; the seconds waited."""
    started = time.monotonic()
    prefix = chaos.running.prefix
    groups = [f"{prefix}{name}" for name in SERVICES if name != "grades"]
    last, still = -1, time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() - started < QUIET_TIMEOUT:
            await asyncio.sleep(5)
            lags = [await consumer_lag(chaos.layout.kafka_bootstrap, g) for g in groups]
            try:
                backlog = await scrape(
                    http, [chaos.running.url("notifier")], "vestnik_notifier_outbox_backlog"
                )
            except httpx.HTTPError:
                backlog = -1
            requested = {r.payload.dedupe_key for r in await requests(chaos, requests_topic)}
            ended = set(await ends(chaos, status_topic))
            open_ = len(requested - ended)
            say(f"  lags {lags}, outbox {backlog:.0f}, {open_} of {len(requested)} not ended")
            if all(lag == 0 for lag in lags) and backlog == 0 and open_ == 0:
                break
            if open_ != last:
                last, still = open_, time.monotonic()
            elif time.monotonic() - still > 120:
                break
    await asyncio.sleep(5)  # a duplicate would come late
    return time.monotonic() - started


async def requests(chaos: Chaos, topic: str) -> list[NotificationRequested]:
    found = []
    for record in await read_all(chaos.layout.kafka_bootstrap, topic):
        try:
            found.append(NotificationRequested.model_validate_json(record.value))
        except ValueError:
            continue  # our own poison
    return found


async def ends(chaos: Chaos, topic: str) -> dict[str, list[tuple[str, str]]]:
    """Per dedupe key, every status event: (type, reason)."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in await read_all(chaos.layout.kafka_bootstrap, topic):
        try:
            body = json.loads(record.value)
            payload = body["payload"]
        except (ValueError, KeyError, TypeError):
            continue
        if "dedupe_key" in payload:
            found[payload["dedupe_key"]].append((body["type"], payload.get("reason", "")))
    return found


async def consent_changes(chaos: Chaos, topic: str) -> dict[str, list[tuple[str, int]]]:
    """Per recipient, each change consent published: (type, Kafka timestamp in ms)."""
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for record in await read_all(chaos.layout.kafka_bootstrap, topic):
        try:
            body = json.loads(record.value)
            found[body["payload"]["recipient_id"]].append((body["type"], record.timestamp))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def received(layout: Layout, since_ns: int) -> list[tuple[str, str, str, int]]:
    """(channel, message id, address, arrival ns) of everything the sinks accepted."""
    out = []
    for path, arrived in arrivals(layout.mail_dir, ".eml"):
        if arrived < since_ns:
            continue
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        mid = re.search(r"^Message-ID:\s*(\S+)", head, re.M | re.I)
        to = re.search(r"^To:\s*(.+)$", head, re.M | re.I)
        address = to.group(1).strip() if to else ""
        inner = re.search(r"<([^>]+)>", address)
        out.append(
            (
                "email",
                mid.group(1) if mid else path.name,
                inner.group(1) if inner else address,
                arrived,
            )
        )
    for path, arrived in arrivals(layout.sms_dir, ".json"):
        if arrived >= since_ns:
            body = json.loads(path.read_text())
            out.append(("sms", f"<{body['client_id']}>", "+" + body["to"].lstrip("+"), arrived))
    return out


async def check(chaos: Chaos, guardians: dict[str, Guardian], since_ns: int) -> dict[str, Any]:
    topics = Topics(chaos.running.prefix)
    asked = await requests(chaos, topics.of(NotificationRequested))
    by_key = {r.payload.dedupe_key: r.payload for r in asked}
    by_mid = {message_id_for(key): p for key, p in by_key.items()}
    statuses = await ends(chaos, topics.of(NotificationSent))
    files = received(chaos.layout, since_ns)
    delivered: Counter[str] = Counter(mid for _, mid, _, _ in files)
    lost: list[str] = []
    sent_not_received: list[str] = []
    unexplained: list[str] = []
    ended: Counter[str] = Counter()
    for key, p in by_key.items():
        kinds = {t for t, _ in statuses.get(key, [])}
        mid = message_id_for(key)
        if p.channel in ("email", "sms") and delivered[mid]:
            ended["delivered"] += 1
        elif p.channel == "inbox" and "NotificationSent" in kinds:
            ended["inbox"] += 1
        elif kinds & {"NotificationFailed", "NotificationCancelled"}:
            reason = next(r for t, r in statuses[key] if t != "NotificationSent")
            ended[f"ended: {reason[:60]}"] += 1
        elif "NotificationSent" in kinds:
            sent_not_received.append(key)
        else:
            lost.append(key)
    # Per recipient, event and channel: more than one message is a duplicate.
    per_notice: Counter[tuple[str, str, str]] = Counter()
    for channel, mid, _, _ in files:
        asked_for = by_mid.get(mid)
        if asked_for is None:
            unexplained.append(mid)
            continue
        per_notice[(asked_for.recipient_id, str(asked_for.source_event_id), channel)] += 1
    same_id = sum(n - 1 for n in delivered.values() if n > 1)
    duplicates = sum(n - 1 for n in per_notice.values() if n > 1)
    by_recipient = {g.recipient_id: g for g in guardians.values()}
    after_revocation: list[dict[str, Any]] = []
    to_old_contact: list[dict[str, Any]] = []
    without_consent: list[str] = []
    envelopes: dict[str, list[NotificationRequested]] = defaultdict(list)
    for r in asked:
        envelopes[message_id_for(r.payload.dedupe_key)].append(r)
    changes = await consent_changes(chaos, topics.of(ConsentRevoked))
    for channel, mid, address, arrived in files:
        owner = by_mid.get(mid)
        g = by_recipient.get(owner.recipient_id) if owner else None
        if g is None:
            continue
        if g.state in ("paper", "refused", "none"):
            without_consent.append(mid)
        late = g.changed_ns is not None and arrived > g.changed_ns
        if late and (g.state == "revoked" or (g.state == "moved" and address in g.old)):
            # The evidence: when the request was made, when the change reached Kafka.
            change_ns = g.changed_ns or 0
            made = envelopes[mid]
            request = made[0]  # the notifier keeps the first request of a dedupe key
            evidence = {
                "message": mid,
                "recipient": g.recipient_id,
                "channel": channel,
                "event": str(request.payload.source_event_id),
                "sent_after_change_s": (arrived - change_ns) / 1e9,
                "request_recorded_after_change_s": request.recorded_at.timestamp()
                - change_ns / 1e9,
                "requests_made_after_change_s_and_old_address": [
                    (r.recorded_at.timestamp() - change_ns / 1e9, r.payload.address in g.old)
                    for r in made
                ],
                "change_in_kafka_after_s": [
                    (stamp_ms * 1_000_000 - change_ns) / 1e9
                    for kind, stamp_ms in changes.get(g.recipient_id, [])
                    if kind in ("ContactChanged", "ConsentRevoked")
                ],
            }
            (after_revocation if g.state == "revoked" else to_old_contact).append(evidence)
    dead: dict[str, int] = {}
    for topic, markers in chaos.poison.items():
        values = [
            r.value or b"" for r in await read_all(chaos.layout.kafka_bootstrap, topic + ".dlt")
        ]
        dead[topic] = sum(1 for m in markers if any(m in v for v in values))
    poisoned = sum(map(len, chaos.poison.values()))
    figures = {
        "requests": len(by_key),
        "requests_by_channel": dict(Counter(p.channel for p in by_key.values())),
        "messages_received": len(files),
        "outcomes": dict(ended.most_common()),
        "lost": len(lost) + len(sent_not_received),
        "lost_never_ended": lost[:20],
        "lost_sent_but_not_received": sent_not_received[:20],
        "unexplained_messages": len(unexplained),
        "duplicate": duplicates,
        "repeats_with_the_same_message_id": same_id,
        "sent_after_revocation": len(after_revocation),
        "sent_after_revocation_examples": after_revocation[:20],
        "sent_to_replaced_contact": len(to_old_contact),
        "sent_to_replaced_contact_examples": to_old_contact[:20],
        "sent_without_consent": len(without_consent),
        "poison_messages": poisoned,
        "poison_dead_lettered": sum(dead.values()),
        "poison_by_topic": dead,
        "deadline_missed": sum(
            1 for events in statuses.values() for t, _ in events if t == "DeadlineMissed"
        ),
    }
    figures["passed"] = not (
        figures["lost"]
        or figures["duplicate"]
        or figures["unexplained_messages"]
        or figures["sent_after_revocation"]
        or figures["sent_to_replaced_contact"]
        or figures["sent_without_consent"]
        or figures["poison_dead_lettered"] != poisoned
    )
    return figures


# Written when a document is (re)written, not what it says: a rebuild writes them anew.
WRITTEN_AT = frozenset({"updated_at", "created_at", "received_at", "written_at", "expires_at"})


async def rebuilt_digest(layout: Layout, prefix: str) -> dict[str, Any]:
    """A second digest with a consumer group and a database of its own reads the topics from
    the start; its read model must equal the one that lived through the faults."""
    live, fresh = f"{prefix.strip('.')}_digest", f"{prefix.strip('.')}_digest_rebuilt"
    env = {"VESTNIK_DIGEST_MONGO_DB": fresh, "VESTNIK_DIGEST_GROUP": f"{prefix}digest-rebuilt"}
    again = await asyncio.to_thread(start, layout, prefix, ("digest",), replica=2, env=env)
    try:
        while await consumer_lag(layout.kafka_bootstrap, f"{prefix}digest-rebuilt") != 0:
            await asyncio.sleep(2)
        await asyncio.sleep(3)
    finally:
        again.stop()
    mongo = create_mongo_client(layout.mongo_url)
    figures: dict[str, Any] = {"collections": {}, "differing": 0}
    try:
        names = set(await mongo[live].list_collection_names())
        names |= set(await mongo[fresh].list_collection_names())
        for name in sorted(names):
            sides = []
            for db in (live, fresh):
                docs = {}
                async for doc in mongo[db][name].find({}):
                    key = doc.pop("_id")
                    docs[str(key)] = {k: v for k, v in doc.items() if k not in WRITTEN_AT}
                sides.append(docs)
            a, b = sides
            differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            figures["collections"][name] = {
                "live": len(a),
                "rebuilt": len(b),
                "differing": len(differing),
                "examples": differing[:5],
            }
            figures["differing"] += len(differing)
        await mongo.drop_database(fresh)
    finally:
        await mongo.close()
    return figures


async def run(layout: Layout, stack: dict[str, ManagedProcess]) -> dict[str, Any]:
    rng = random.Random(SEED)
    students = max(50, ITEMS // ITEMS_PER_STUDENT)
    schools = max(1, students // 250)
    per_class = 25
    classes = max(2, min(10, round(students / schools / per_class)))
    district = plans.plan(schools, classes=classes, per_class=per_class, tag="chaos")
    guardians = states(district, rng)
    secret = SecretStr(os.environ.get("VESTNIK_JWT_SECRET", DEV_JWT_SECRET))
    tokens = {
        s.school_id: issue_token(secret, role="admin", school_id=s.school_id, subject="chaos")
        for s in district.schools
    }
    prefix = f"chaos{uuid.uuid4().hex[:6]}."
    items = journal(district, rng)
    seconds = max(150.0, len(items) / 15)
    failing = tuple(
        g.phone.lstrip("+") for g in guardians.values() if g.state == "sms" and g.phone
    )[:3]
    os.environ.update(SERVICE_ENV)
    since = time.time_ns()
    for directory in (layout.mail_dir, layout.sms_dir):
        sink_faults.clear(directory)
    running = start(layout, prefix)
    chaos = Chaos(layout, running, stack, rng)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "started": now(),
        "seed": SEED,
        "students": len(district.students),
        "schools": schools,
        "journal_items": len(items),
        "guardians": dict(Counter(g.state for g in guardians.values())),
    }
    try:
        say(f"loading {len(district.students)} students in {schools} schools")
        await plans.load(
            district,
            running.url("grades"),
            running.url("consent"),
            tokens,
            guardians=calls_for(guardians),
        )
        await asyncio.sleep(3)
        say(f"{len(items)} journal items over {seconds:.0f} s, with faults")
        began = time.monotonic()
        await asyncio.gather(
            feed(chaos, guardians, items, tokens, seconds), inject(chaos, seconds, failing)
        )
        result["feed_seconds"] = time.monotonic() - began
        for directory in (layout.mail_dir, layout.sms_dir):
            sink_faults.clear(directory)
        chaos.record("cleared", "sink faults")
        say("waiting for quiet")
        topics = Topics(prefix)
        result["quiet_seconds"] = await quiet(
            chaos, topics.of(NotificationRequested), topics.of(NotificationSent)
        )
        result["checks"] = await check(chaos, guardians, since)
        say("the digest's read model rebuilt from the topics")
        try:
            digest = await asyncio.wait_for(rebuilt_digest(layout, prefix), timeout=900)
        except (TimeoutError, RuntimeError) as error:  # the other figures still count
            digest = {"differing": -1, "error": repr(error)}
        result["checks"]["digest"] = digest
        result["checks"]["passed"] &= digest["differing"] == 0
    finally:
        result["faults"] = [asdict(f) for f in chaos.faults]
        running.stop()
        for directory in (layout.mail_dir, layout.sms_dir):
            sink_faults.clear(directory)
        if os.environ.get("CHAOS_KEEP") != "1":
            await forget(layout, prefix)
    return result


def summary(result: dict[str, Any]) -> str:
    c = result.get("checks", {})
    rows = [
        ("lost (neither delivered nor ended with a reason)", c.get("lost")),
        ("duplicate (per recipient, event and channel)", c.get("duplicate")),
        (
            "  of which the same Message-ID / client_id again",
            c.get("repeats_with_the_same_message_id"),
        ),
        ("messages no request explains", c.get("unexplained_messages")),
        ("sent after a revocation", c.get("sent_after_revocation")),
        ("sent to a contact replaced before the send", c.get("sent_to_replaced_contact")),
        ("sent without consent (paper, refused, no answer)", c.get("sent_without_consent")),
        (
            "poison messages dead-lettered",
            f"{c.get('poison_dead_lettered')} of {c.get('poison_messages')}",
        ),
        ("deadline missed", c.get("deadline_missed")),
        (
            "digest read model: documents differing from one rebuilt from the topics",
            c.get("digest", {}).get("differing"),
        ),
    ]
    faults = "\n".join(
        f"| {f['at']} | {f['kind']} | {f['target']} | {f['detail']} |" for f in result["faults"]
    )
    return (
        f"# Chaos run {result['date']}\n\n"
        f"{result['journal_items']} journal items for {result['students']} students in "
        f"{result['schools']} schools (guardians: {result['guardians']}), seed {result['seed']}; "
        f"{c.get('requests')} notices requested {c.get('requests_by_channel')}, "
        f"{c.get('messages_received')} e-mails and SMS received; quiet after "
        f"{result.get('quiet_seconds', float('nan')):.0f} s.\n\n"
        f"**{'PASSED' if c.get('passed') else 'FAILED'}**\n\n| check | count |\n|---|---|\n"
        + "\n".join(f"| {name} | {value} |" for name, value in rows)
        + f"\n\nOutcomes: {c.get('outcomes')}\n\n"
        f"| at (UTC) | fault | target | detail |\n|---|---|---|---|\n{faults}\n"
    )


def main() -> int:
    layout = Layout.from_env()
    started: list[ManagedProcess] = []
    stack = {process.name: process for process in infrastructure(layout)}
    try:
        for process in stack.values():
            state = process.up()
            say(f"{process.name:10} {state}")
            if state.startswith("started"):
                started.append(process)
        result = asyncio.run(run(layout, stack))
    finally:
        for process in reversed(started):
            say(f"{process.name:10} {process.down()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    # The default size is the day's run; a smaller one says its size.
    name = f"{result['date']}-chaos" + ("" if ITEMS == DEFAULT_ITEMS else f"-{ITEMS}")
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (RESULTS / f"{name}.md").write_text(summary(result))
    print("\n" + summary(result))
    checks = result.get("checks", {})
    return 0 if checks.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
