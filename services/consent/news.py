"""Who hears of a class's fact (clause 4): a lesson change, a test, homework.

A class's fact concerns the students `schemas.membership.concerned_students` names; their
recipients each pass the same filter as a mark (`why_not`), per child. A recipient hears once
per channel, however many of their children it concerns: the notice names every child that
passed. A lesson change goes by e-mail and SMS only while it is close enough to matter (today
or tomorrow in the school's zone); SMS quiet hours give way when the changed lesson is the next
morning's. A fact loaded with a schedule (`announce` false) is not news at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from schemas import Envelope, NotificationRequested
from schemas.membership import ClassRoster, Curriculum, concerned_students
from schemas.notify import Category, QuietHours
from services.consent.domain import (
    CATEGORY_OF_KIND,
    CHANNELS,
    Decision,
    RecipientFile,
    Registry,
    request_for,
    why_not,
)

LESSON_CHANGES = frozenset(
    {"lesson_change_posted", "lesson_change_corrected", "lesson_change_retracted"}
)
# A changed lesson up to this number is a morning's lesson: its SMS cannot wait for quiet hours
# to end, the family would learn of it after the lesson had begun.
LAST_MORNING_LESSON = 4
# A decision about the fact as a whole, before any recipient is looked up.
NOBODY: Literal["*"] = "*"


@dataclass(frozen=True)
class Enrolment:
    """What consent's roster holds about one class, as read from its store."""

    students: Mapping[str, str]  # student_id → name, those whose class it is now
    groups: Mapping[str, frozenset[str]]  # group_id → its students
    curricula: Mapping[str, Sequence[Curriculum]]  # student_id → their individual curricula


def roster_on(enrolment: Enrolment, day: date) -> ClassRoster:
    """The class as it stands on `day`: a student's curriculum in force then, if any."""
    curricula = {}
    for student_id, plans in enrolment.curricula.items():
        in_force = [plan for plan in plans if plan.in_force(day)]
        if in_force:
            curricula[student_id] = in_force[-1]
    return ClassRoster(
        student_ids=frozenset(enrolment.students),
        groups=enrolment.groups,
        curricula=curricula,
    )


def fact_day(facts: Any) -> date:
    """The day membership is judged on: the test's, the homework's due day, or the lesson's."""
    for name in ("assessment_date", "due_on", "lesson_date"):
        if (day := getattr(facts, name, None)) is not None:
            return day  # type: ignore[no-any-return]
    raise ValueError(f"not a class's fact: {facts.kind}")


def concerned(facts: Any, enrolment: Enrolment) -> list[str]:
    day = fact_day(facts)
    return concerned_students(
        roster_on(enrolment, day),
        group_id=facts.group_id,
        subject_id=getattr(facts, "subject_id", None),
        on=day,
    )


def _days(facts: Any) -> list[tuple[date, int | None]]:
    """The lessons a lesson change touches: the one timetabled, where a move puts it, and
    (after a correction) the one families were told of before."""
    days = [(facts.lesson_date, facts.lesson_number)]
    if facts.new_date is not None or facts.new_lesson_number is not None:
        days.append(
            (facts.new_date or facts.lesson_date, facts.new_lesson_number or facts.lesson_number)
        )
    if (previous := getattr(facts, "previous_lesson_date", None)) is not None:
        days.append((previous, None))
    return days


def is_soon(facts: Any, now: datetime, zone: ZoneInfo) -> bool:
    """A lesson change for today or tomorrow, in the school's zone."""
    today = now.astimezone(zone).date()
    return any(day in (today, today + timedelta(days=1)) for day, _ in _days(facts))


def is_next_morning(facts: Any, now: datetime, zone: ZoneInfo, quiet: QuietHours) -> bool:
    """The changed lesson is among tomorrow's first, or today's first while quiet hours still
    hold: an SMS held until they end would come too late."""
    local = now.astimezone(zone)
    today = local.date()
    for day, number in _days(facts):
        if number is None or number > LAST_MORNING_LESSON:
            continue
        if day == today + timedelta(days=1) or (day == today and local.time() < quiet.end):
            return True
    return False


def class_requests(
    event: Envelope[Any],
    *,
    students: Sequence[str],
    names: Mapping[str, str],
    files: Mapping[str, list[RecipientFile]],
    now: datetime,
    zone: ZoneInfo,
) -> tuple[list[NotificationRequested], list[Decision]]:
    """One request per recipient and channel for the `students` a class's fact concerns;
    `files`: each student's recipients. Every decision is returned, with the children it was
    about."""
    facts = event.payload
    if not getattr(facts, "announce", True):
        return [], [Decision(NOBODY, NOBODY, False, "loaded with a schedule: not news")]
    if not students:
        return [], [Decision(NOBODY, NOBODY, False, "no student of the class or group known")]
    category: Category = CATEGORY_OF_KIND[facts.kind]
    lesson_change = facts.kind in LESSON_CHANGES
    soon = lesson_change and is_soon(facts, now, zone)
    requests, decisions = [], []
    for recipient_files in _by_recipient(students, files):
        recipient = recipient_files[0][1].recipient
        preferences = recipient_files[0][1].preferences
        for channel in CHANNELS:
            reasons = {sid: why_not(file, channel, category, now) for sid, file in recipient_files}
            if lesson_change and channel != "inbox" and not soon:
                reasons = {sid: "not for today or tomorrow: inbox only" for sid in reasons}
            passed = tuple(sid for sid, reason in reasons.items() if reason is None)
            told = passed or tuple(reasons)
            reason = "notified" if passed else next(r for r in reasons.values() if r)
            decisions.append(Decision(recipient.recipient_id, channel, bool(passed), reason, told))
            if not passed:
                continue
            quiet: QuietHours | None = None
            if channel == "sms":
                quiet = preferences.sms_quiet_hours
                if lesson_change and is_next_morning(facts, now, zone, quiet):
                    quiet = None
            requests.append(
                request_for(
                    event,
                    recipient_files[0][1],
                    channel,
                    student_id=passed[0],
                    student_ids=passed,
                    student_names=tuple(names[sid] for sid in passed if sid in names),
                    category=category,
                    priority="urgent" if soon else "normal",
                    quiet_hours=quiet,
                )
            )
    return requests, decisions


def _by_recipient(
    students: Iterable[str], files: Mapping[str, list[RecipientFile]]
) -> list[list[tuple[str, RecipientFile]]]:
    """Each recipient's files about the concerned students, children in `students` order;
    recipients by id, so a redelivery decides in the same order."""
    grouped: dict[str, list[tuple[str, RecipientFile]]] = {}
    for student_id in students:
        for file in files.get(student_id, []):
            grouped.setdefault(file.recipient.recipient_id, []).append((student_id, file))
    return [grouped[recipient_id] for recipient_id in sorted(grouped)]


class Roster(Protocol):
    async def enrolment(self, school_id: str, class_id: str) -> Enrolment: ...
    async def zone(self, school_id: str) -> ZoneInfo: ...


async def route_class_events(
    events: Sequence[Envelope[Any]],
    *,
    roster: Roster,
    registry: Registry,
    publish_all: Callable[[list[NotificationRequested]], Awaitable[None]],
    now: datetime,
) -> list[Decision]:
    """Like `route_events`, for facts about a class or a group: each class's roster and each
    concerned student's recipients looked up once per batch. Safe to repeat."""
    classes = sorted({(e.payload.school_id, e.payload.class_id) for e in events})
    enrolments = {key: await roster.enrolment(*key) for key in classes}
    zones = {school: await roster.zone(school) for school in sorted({s for s, _ in classes})}
    students = {
        e.event_id: concerned(e.payload, enrolments[e.payload.school_id, e.payload.class_id])
        for e in events
        if getattr(e.payload, "announce", True)
    }
    wanted = sorted(
        {(e.payload.school_id, sid) for e in events for sid in students.get(e.event_id, [])}
    )
    files = await registry.files_for_students(wanted) if wanted else {}
    by_school: dict[str, dict[str, list[RecipientFile]]] = {}
    for (school, student_id), found in files.items():
        by_school.setdefault(school, {})[student_id] = found
    requests: list[NotificationRequested] = []
    decided = []
    for event in events:
        school_id, class_id = event.payload.school_id, event.payload.class_id
        made, decisions = class_requests(
            event,
            students=students.get(event.event_id, []),
            names=enrolments[school_id, class_id].students,
            files=by_school.get(school_id, {}),
            now=now,
            zone=zones[school_id],
        )
        requests.extend(made)
        decided.append((event, decisions))
    await registry.record_decisions(decided)
    await publish_all(requests)
    return [decision for _, decisions in decided for decision in decisions]
