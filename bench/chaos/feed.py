"""The district a chaos run posts: guardians in every consent state, the journal's items in
batches, and the revocations and contact changes among them."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx

from bench import district as plans
from bench.chaos.faults import Chaos
from bench.run import (
    say,
)

ITEMS_PER_STUDENT = 10


BATCH = 100


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


@dataclass
class Guardian:
    school_id: str
    student_id: str
    state: str
    email: str | None = None
    phone: str | None = None
    # When the API accepted the mid-stream change (ns since the epoch): the revocation, or the
    # new e-mail address; the new phone number is accepted after it. And the old contacts.
    changed_ns: int | None = None
    sms_changed_ns: int | None = None
    old: tuple[str, ...] = ()

    def changed_for(self, channel: str) -> int | None:
        """When a message on `channel` stopped being allowed (to its old address)."""
        return (
            self.sms_changed_ns if channel == "sms" and self.state == "moved" else self.changed_ns
        )

    @property
    def recipient_id(self) -> str:
        return f"g-{self.student_id}"


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


async def change(
    http: httpx.AsyncClient, consent: str, g: Guardian, tokens: dict[str, str]
) -> None:
    """`g`'s revocation or new contacts, with when consent answered each: a change answers
    once the hand-over windows it overlaps have ended, so that is when it counts as made."""
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
        return
    g.old = tuple(a for a in (g.email, g.phone) if a)
    g.email = f"new-{g.recipient_id}@example.org"
    g.phone = "+7917" + (g.phone or "+79160000000")[-7:]
    recipient = f"{base}/recipients/{g.recipient_id}/contacts"
    first = await consent_call(
        http, "PUT", f"{recipient}/email", token, {"address": g.email, "proof": plans.WRITTEN}
    )
    g.sms_changed_ns = await consent_call(
        http, "PUT", f"{recipient}/sms", token, {"address": g.phone, "proof": plans.WRITTEN}
    )
    g.changed_ns = first


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
            # Concurrently: a change waits for the hand-over windows of its recipient.
            await asyncio.gather(*(change(http, consent, g, tokens) for g in when.get(n, [])))
            if n % 10 == 0:
                say(f"  batch {n + 1} of {len(batches)} posted")
            await asyncio.sleep(max(pause - (time.monotonic() - started), 0))
