"""`python -m bench.chaos` (`make chaos`): a chaos run, its report under `bench/results/`
(or `CHAOS_RESULTS`), exit status 1 when a check fails."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench import district as plans
from bench.chaos.checks import check, quiet, rebuilt_digest
from bench.chaos.faults import Chaos, inject, now
from bench.chaos.feed import ITEMS_PER_STUDENT, calls_for, feed, journal, states
from bench.chaos.report import summary
from bench.run import (
    RESULTS,
    forget,
    say,
    start,
)
from deploy.local.processes import ManagedProcess
from deploy.local.sinks import faults as sink_faults
from deploy.local.stack import Layout, infrastructure
from schemas import Topics
from schemas.notify import NotificationRequested, NotificationSent
from services.shared.auth import issue_token
from services.shared.config import DEV_JWT_SECRET

DEFAULT_ITEMS = 10_000
# The run's size and shape. The short run inside `make test` (`make chaos-short`): 1,000 items,
# each service killed once, fed over a minute, its report under var/.
ITEMS = int(os.environ.get("CHAOS_ITEMS", str(DEFAULT_ITEMS)))
SEED = int(os.environ.get("CHAOS_SEED", "16"))
KILLS_EACH = int(os.environ.get("CHAOS_KILLS_EACH", "3"))
FEED_SECONDS = float(os.environ.get("CHAOS_FEED_SECONDS", "0"))  # 0: by the size
REPORTS = Path(os.environ.get("CHAOS_RESULTS", str(RESULTS)))
# Retries within the run's minutes, not the production half-minute first delay.
SERVICE_ENV = {
    "VESTNIK_NOTIFIER_RETRY_FIRST_DELAY_SECONDS": "1",
    "VESTNIK_NOTIFIER_RETRY_MAX_ATTEMPTS": "8",
}


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
    seconds = FEED_SECONDS or max(150.0, len(items) / 15)
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
        "kills_each": KILLS_EACH,
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
            feed(chaos, guardians, items, tokens, seconds),
            inject(chaos, seconds, failing, KILLS_EACH),
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
    REPORTS.mkdir(parents=True, exist_ok=True)
    # The default size is the day's run; a smaller one says its size.
    name = f"{result['date']}-chaos" + ("" if ITEMS == DEFAULT_ITEMS else f"-{ITEMS}")
    (REPORTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (REPORTS / f"{name}.md").write_text(summary(result))
    print("\n" + summary(result))
    checks = result.get("checks", {})
    return 0 if checks.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
