"""Who hears of a class's fact: the group's families once each, on the channels the rules allow."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.classwork import (
    HOMEWORK,
    RECOMMENDATION,
    TEST,
    AssessmentRescheduled,
    AssessmentRescheduledPayload,
    HomeworkAssigned,
    HomeworkAssignedPayload,
    RecommendationPosted,
    RecommendationPostedPayload,
)
from schemas.membership import Curriculum
from schemas.notify import QuietHours
from schemas.timetable import LessonChangePosted
from services.consent.domain import (
    Consent,
    Preferences,
    Recipient,
    RecipientFile,
    notification_requests,
)
from services.consent.news import Enrolment, class_requests, concerned
from tests.builders import CONSENTING, EMAIL, PHONE, a_lesson_change

MOSCOW = ZoneInfo("Europe/Moscow")
# Monday 30 November 2026, 15:00 in Moscow.
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 30)
TOMORROW = TODAY + timedelta(days=1)
ENROLMENT = Enrolment(
    students={
        "st-1": "Иванов Иван",
        "st-4": "Иванова Мария",
        "st-2": "Смирнова Ольга",
        "st-5": "Орлов Никита",
    },
    groups={"5a-en-1": frozenset({"st-1", "st-4"}), "5a-en-2": frozenset({"st-2"})},
    curricula={
        "st-5": [
            Curriculum(
                valid_from=date(2026, 9, 1),
                valid_to=date(2027, 5, 31),
                subject_ids=frozenset({"math", "en"}),
                group_ids=frozenset({"5a-en-2"}),
            )
        ]
    },
)


def file_of(
    recipient_id: str, children: tuple[str, ...], child: str, **prefs: Any
) -> RecipientFile:
    recipient = Recipient(
        recipient_id, "school-1", f"Родитель {recipient_id}", "guardian", children
    )
    consent = Consent(
        f"c-{recipient_id}-{child}",
        "school-1",
        recipient_id,
        child,
        "granted",
        date(2026, 9, 1),
        None,
        NOW - timedelta(days=60),
    )
    return RecipientFile(recipient, consent, {"email": EMAIL, "sms": PHONE}, Preferences(**prefs))


def families(**prefs: Any) -> dict[str, list[RecipientFile]]:
    """g-1: mother of st-1 and st-4 (English group 1); g-2: st-2 (group 2); g-5: st-5 (ИУП)."""
    siblings = ("st-1", "st-4")
    return {
        "st-1": [file_of("g-1", siblings, "st-1", **prefs)],
        "st-4": [file_of("g-1", siblings, "st-4", **prefs)],
        "st-2": [file_of("g-2", ("st-2",), "st-2", **prefs)],
        "st-5": [file_of("g-5", ("st-5",), "st-5", **prefs)],
    }


def route(payload: Any, event_type: Any = LessonChangePosted, now: datetime = NOW, **prefs: Any):  # type: ignore[no-untyped-def]
    event = event_type.new(payload, producer="grades")
    return class_requests(
        event,
        students=concerned(payload, ENROLMENT),
        names=ENROLMENT.students,
        files=families(**prefs),
        now=now,
        zone=MOSCOW,
    )


def sent(requests: list[Any]) -> set[tuple[str, str]]:
    return {(r.payload.recipient_id, r.payload.channel) for r in requests}


def test_siblings_share_one_notice_per_channel_and_the_other_group_gets_nothing() -> None:
    requests, decisions = route(a_lesson_change(lesson_date=TOMORROW))
    assert sent(requests) == {("g-1", "email"), ("g-1", "sms"), ("g-1", "inbox")}
    for request in requests:
        assert request.payload.student_id == "st-1"
        assert request.payload.student_ids == ("st-1", "st-4")
        assert request.payload.student_names == ("Иванов Иван", "Иванова Мария")
        assert request.payload.category == "lesson_changes"
        assert request.payload.priority == "urgent"
        assert request.payload.deadline is None
        assert request.payload.dedupe_key.endswith(f":g-1:{request.payload.channel}")
    assert {d.recipient_id for d in decisions} == {"g-1"}


def test_a_redelivered_change_makes_the_same_requests() -> None:
    payload = a_lesson_change(lesson_date=TOMORROW)
    event = LessonChangePosted.new(payload, producer="grades")
    twice = [
        class_requests(
            event,
            students=concerned(payload, ENROLMENT),
            names=ENROLMENT.students,
            files=families(),
            now=NOW,
            zone=MOSCOW,
        )[0]
        for _ in range(2)
    ]
    assert [r.event_id for r in twice[0]] == [r.event_id for r in twice[1]]


def test_the_individual_curriculum_places_a_student_in_a_group_and_out_of_a_subject() -> None:
    group_2 = a_lesson_change(group_id="5a-en-2", group_name="Английский, группа 2")
    assert {r for r, _ in sent(route(group_2)[0])} == {"g-2", "g-5"}
    music = a_lesson_change(
        group_id=None,
        group_name=None,
        change="cancellation",
        subject_id="music",
        subject_name="Музыка",
        lesson_date=TOMORROW,
    )
    assert {r for r, _ in sent(route(music)[0])} == {"g-1", "g-2"}
    maths = replace_subject(music, "math")
    assert {r for r, _ in sent(route(maths)[0])} == {"g-1", "g-2", "g-5"}


def replace_subject(payload: Any, subject_id: str) -> Any:
    return payload.model_copy(update={"subject_id": subject_id})


def test_a_fact_loaded_with_a_schedule_notifies_nobody_and_says_why() -> None:
    requests, decisions = route(a_lesson_change(lesson_date=TOMORROW, announce=False))
    assert requests == []
    [decision] = decisions
    assert (decision.notify, decision.reason) == (False, "loaded with a schedule: not news")


def test_a_group_nobody_is_known_in_notifies_nobody_and_says_why() -> None:
    requests, decisions = route(a_lesson_change(group_id="5a-en-9"))
    assert requests == []
    assert [d.reason for d in decisions] == ["no student of the class or group known"]


def test_a_change_after_tomorrow_goes_to_the_inbox_only() -> None:
    requests, decisions = route(a_lesson_change(lesson_date=TODAY + timedelta(days=2)))
    assert sent(requests) == {("g-1", "inbox")}
    assert requests[0].payload.priority == "normal"
    reasons = {d.channel: d.reason for d in decisions}
    assert reasons["email"] == reasons["sms"] == "not for today or tomorrow: inbox only"


def test_today_in_the_school_zone_counts_not_utc() -> None:
    # 22:30 UTC on the 30th is already 1 December in Moscow: the 2nd is tomorrow there.
    late = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)
    requests, _ = route(a_lesson_change(lesson_date=date(2026, 12, 2)), now=late)
    assert ("g-1", "email") in sent(requests)


def test_a_move_from_later_to_tomorrow_is_news_today() -> None:
    move = a_lesson_change(change="move", lesson_date=TODAY + timedelta(days=7), new_date=TOMORROW)
    assert ("g-1", "sms") in sent(route(move)[0])


def sms_quiet_hours(requests: list[Any]) -> QuietHours | None:
    [sms] = [r for r in requests if r.payload.channel == "sms"]
    return sms.payload.quiet_hours  # type: ignore[no-any-return]


def test_tomorrows_first_lessons_skip_quiet_hours_later_ones_respect_them() -> None:
    evening = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 22:00 in Moscow
    early = a_lesson_change(lesson_date=TOMORROW, lesson_number=2)
    assert sms_quiet_hours(route(early, now=evening)[0]) is None
    afternoon = a_lesson_change(lesson_date=TOMORROW, lesson_number=6)
    assert sms_quiet_hours(route(afternoon, now=evening)[0]) == QuietHours()
    # A lesson moved into tomorrow's morning counts by where it lands.
    moved = a_lesson_change(
        change="move", lesson_date=TOMORROW, lesson_number=7, new_lesson_number=1
    )
    assert sms_quiet_hours(route(moved, now=evening)[0]) is None


def test_todays_first_lessons_skip_quiet_hours_only_before_they_end() -> None:
    night = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 05:00 in Moscow
    first = a_lesson_change(lesson_date=TODAY, lesson_number=1)
    assert sms_quiet_hours(route(first, now=night)[0]) is None
    quiet = QuietHours(start=time(21, 0), end=time(4, 0))
    assert sms_quiet_hours(route(first, now=night, sms_quiet_hours=quiet)[0]) == quiet


def test_a_parent_who_switched_lesson_changes_off_by_sms_is_not_texted() -> None:
    channels = {**Preferences().channels, "lesson_changes": frozenset({"inbox"})}
    requests, decisions = route(a_lesson_change(lesson_date=TOMORROW), channels=channels)
    assert sent(requests) == {("g-1", "inbox")}
    assert {d.reason for d in decisions if d.channel == "sms"} == {
        "lesson_changes not wanted by sms"
    }


def test_one_childs_revoked_consent_leaves_the_sibling_in_the_notice() -> None:
    files = families()
    revoked = replace(files["st-1"][0].consent, revoked_at=NOW - timedelta(days=1))  # type: ignore[type-var]
    files["st-1"] = [replace(files["st-1"][0], consent=revoked)]
    payload = a_lesson_change(lesson_date=TOMORROW)
    requests, _ = class_requests(
        LessonChangePosted.new(payload, producer="grades"),
        students=concerned(payload, ENROLMENT),
        names=ENROLMENT.students,
        files=files,
        now=NOW,
        zone=MOSCOW,
    )
    assert {r.payload.student_ids for r in requests} == {("st-4",)}


def test_a_moved_test_goes_by_email_and_inbox_whenever_it_is() -> None:
    moved = AssessmentRescheduledPayload(
        **{**TEST, "assessment_date": "2026-12-12", "previous_date": "2026-12-10"}
    )
    requests, _ = route(moved, AssessmentRescheduled)
    assert sent(requests) == {(g, c) for g in ("g-1", "g-2", "g-5") for c in ("email", "inbox")}
    assert {r.payload.category for r in requests} == {"schedule"}


def test_homework_goes_to_the_inbox_only() -> None:
    homework = HomeworkAssignedPayload(**HOMEWORK)
    requests, _ = route(homework, HomeworkAssigned)
    assert sent(requests) == {(g, "inbox") for g in ("g-1", "g-2", "g-5")}
    assert {r.payload.category for r in requests} == {"homework"}


def test_a_recommendation_reaches_its_students_family_by_email_and_inbox() -> None:
    posted = RecommendationPosted.new(
        RecommendationPostedPayload(**RECOMMENDATION), producer="grades"
    )
    requests, _ = notification_requests(posted, [CONSENTING], NOW)
    assert sent(requests) == {("g-1", "email"), ("g-1", "inbox")}
    assert {r.payload.category for r in requests} == {"recommendations"}
