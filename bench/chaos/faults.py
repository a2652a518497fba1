"""The faults a chaos run injects, on tracks of their own that overlap, each recorded with
its time: `kill -9` of the services, restarts of Kafka and the stores, the sinks' failures,
poison messages."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.run import (
    SERVICES,
    Running,
    say,
    start,
)
from deploy.local.processes import ManagedProcess
from deploy.local.sinks import faults as sink_faults
from deploy.local.stack import Layout
from schemas import Topics
from schemas.consent import ConsentRevoked
from schemas.journal import FinalMarkPosted, MarkPosted, SchoolChanged
from schemas.notify import NotificationRequested

POISON_EACH = 2


# Topics a service reads, so a poison message there must end in `<topic>.dlt`.
POISONED = (MarkPosted, FinalMarkPosted, SchoolChanged, ConsentRevoked, NotificationRequested)


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


async def inject(chaos: Chaos, seconds: float, failing: tuple[str, ...], kills_each: int) -> None:
    """Every fault at a random moment within `seconds`, on tracks of their own that overlap:
    one per service (its `kills_each` kills one after another, and one more of the notifier
    while it sends), the stack's restarts, the sinks. `failing`: numbers the SMS sink refuses."""
    rng = chaos.rng

    async def sync(action: Any) -> None:
        action()

    tracks: list[list[tuple[float, Any]]] = [
        [(rng.uniform(0.05, 0.9), lambda n=name: chaos.kill(n)) for _ in range(kills_each)]
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
