"""What a family sees (issue 14, item 2): the account's read model records of each event, and
the pure assembly of marks, results, absences, the week, tests, teachers, holidays,
recommendations and the inbox into what the child pages render (Russian)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from jinja2 import (
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from prometheus_client import CollectorRegistry

from schemas import Envelope, MarkPosted, Topics
from schemas.classwork import RecommendationPostedPayload
from schemas.digest import Forecast, SubjectWeek, WeeklyDigestPayload
from schemas.journal import (
    AbsenceRecordedPayload,
    ClassChanged,
    ClassChangedPayload,
    ExamResultPostedPayload,
    FinalMarkDeferredPayload,
    FinalMarkPostedPayload,
    MarkFacts,
    MarkRetracted,
    MarkRetractedPayload,
    PeriodChangedPayload,
    StudentChangedPayload,
)
from schemas.notify import NotificationRequested, NotificationRequestedPayload
from schemas.schoolweek import ClassBook, SchoolFacts, Teacher
from services.account.family import (
    InboxItem,
    InboxView,
    absences_view,
    chosen_period,
    holidays_view,
    marks_view,
    monday_of,
    periods_of,
    pupil_of,
    recommendations_view,
    results_view,
    teachers_view,
    upcoming_tests,
    week_of,
    week_view,
)
from services.account.family_handlers import (
    FAMILY_EVENTS,
    digest_record,
    family_record,
    register_family_handlers,
)
from services.account.family_store import Record, _document, newest
from services.account.family_usecases import TITLES, build_family
from services.account.views import Child, FamilyModule, Identity, Viewer
from services.shared.kafka import DeadLetters
from tests.builders import a_lesson_change, a_mark_posted
from tests.school_week import MONDAY, SCHOOL, WEEK, day, reference, term

TEMPLATES = Path(__file__).parents[2] / "services" / "account" / "templates"
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def live(events: list[Envelope[Any]]) -> list[Record]:
    records = [r for e in events if (r := family_record(e)) is not None]
    return [r for r in newest(records) if not r.gone]


def school_facts() -> tuple[dict[str, ClassBook], SchoolFacts, dict[str, StudentChangedPayload]]:
    """The term as `MongoFamilyStore` hands it over: live records, by class and school."""
    records = live([*reference(), *term()])

    def of(kind: str, key: str | None = None) -> list[Any]:
        return [r.fact for r in records if r.kind == kind and (key is None or r.key == key)]

    students = {s.student_id: s for s in of("student")}
    books = {
        class_id: ClassBook(
            class_id=class_id,
            student_ids=frozenset(s for s, p in students.items() if p.class_id == class_id),
            groups=of("group", f"{SCHOOL}/{class_id}"),
            curricula=of("curriculum", f"{SCHOOL}/{class_id}"),
            lessons=of("lesson", f"{SCHOOL}/{class_id}"),
            changes=of("change", f"{SCHOOL}/{class_id}"),
            assessments=of("assessment", f"{SCHOOL}/{class_id}"),
            homework=of("homework", f"{SCHOOL}/{class_id}"),
        )
        for class_id in ("5a", "1a")
    }
    teachers = [
        Teacher(t.teacher_id, t.name, frozenset((a.class_id, a.subject_id) for a in t.assignments))
        for t in of("teacher")
    ]
    return books, SchoolFacts(of("calendar"), of("bells"), teachers), students


# The records.


def test_every_key_carries_the_school_and_a_retraction_leaves_a_versioned_tombstone() -> None:
    posted = a_mark_posted(record_version=1)
    retracted = MarkRetracted.new(
        MarkRetractedPayload(**{**posted.model_dump(exclude={"kind"}), "record_version": 2}),
        producer="grades",
    )
    first = family_record(MarkRetracted.new(retracted.payload, producer="grades"))
    assert first is not None
    assert (first.record_id, first.key, first.gone) == ("school-1/mark/m-1", "school-1/st-1", True)
    doc = _document(first)
    assert doc["student_key"] == "school-1/st-1" and doc["record_version"] == 2
    assert doc["model"] == "MarkFacts" and doc["gone"] is True


def test_the_newest_version_of_a_record_wins_whatever_order_a_batch_brings_it_in() -> None:
    events = term()
    removed = [e for e in events if getattr(e.payload, "lesson_id", None) == "l-8"]
    assert len(removed) == 2
    for order in (removed, removed[::-1]):
        [kept] = newest([r for e in order if (r := family_record(e)) is not None])
        assert kept.gone and kept.version == 2


def test_a_class_reference_record_is_not_kept_and_the_consumed_topics_are_listed() -> None:
    changed = ClassChanged.new(
        ClassChangedPayload(school_id=SCHOOL, class_id="5a", name="5А", education_level="basic"),
        producer="grades",
    )
    assert family_record(changed) is None
    topics = {event.topic for event in FAMILY_EVENTS}
    assert {"journal.marks.v1", "journal.recommendations.v1", "digest.weekly.v1"} <= topics
    assert "notify.requests.v1" in topics and "journal.reference.v1" in topics


def a_digest(week: str, period: str | None, mean: float, projected: int) -> WeeklyDigestPayload:
    monday = monday_of(week)
    forecast = Forecast(mean=mean, projected=projected, mark_count=4, too_few=False, trend="up")
    return WeeklyDigestPayload(
        school_id=SCHOOL,
        student_id="st-1",
        student_name="Иванов Иван",
        class_name="5А",
        week=week,
        week_start=monday,
        week_end=monday + timedelta(days=6),
        period_name=period,
        subjects=(SubjectWeek(subject_id="math", subject_name="Математика", forecast=forecast),),
    )


def test_the_digest_record_is_versioned_by_its_week_and_needs_a_period() -> None:
    later = digest_record(a_digest("2026-W49", "2 четверть", 4.5, 5))
    earlier = digest_record(a_digest("2026-W48", "2 четверть", 4.0, 4))
    assert later is not None and earlier is not None
    assert later.record_id == earlier.record_id and later.version == 202649
    [kept] = newest([later, earlier])
    assert kept is later
    assert digest_record(a_digest("2026-W49", None, 4.5, 5)) is None


# Marks, results, absences.

QUARTER = PeriodChangedPayload(
    school_id=SCHOOL,
    period_id="q2",
    name="2 четверть",
    period_kind="quarter",
    school_year="2026/2027",
    starts_on=date(2026, 11, 5),
    ends_on=date(2026, 12, 28),
)
YEAR = QUARTER.model_copy(
    update={
        "period_id": "y",
        "name": "Год",
        "period_kind": "year",
        "starts_on": date(2026, 9, 1),
        "ends_on": date(2027, 5, 31),
    }
)


def test_the_period_holding_today_is_the_shortest_else_the_last_ended() -> None:
    periods = periods_of([YEAR, QUARTER])
    assert chosen_period(periods, None, MONDAY).period_id == "q2"  # type: ignore[union-attr]
    assert chosen_period(periods, "y", MONDAY).period_id == "y"  # type: ignore[union-attr]
    assert chosen_period(periods, "nope", MONDAY).period_id == "q2"  # type: ignore[union-attr]
    assert chosen_period(periods, None, date(2026, 8, 1)) is None
    later = chosen_period(periods_of([QUARTER]), None, date(2027, 1, 20))
    assert later is not None and later.period_id == "q2"


def test_marks_of_the_period_by_subject_with_the_digests_latest_forecast() -> None:
    marks = [
        MarkFacts.model_validate(a_mark_posted(mark_id="m-1").model_dump(exclude={"kind"})),
        MarkFacts.model_validate(
            a_mark_posted(mark_id="m-2", value="3", lesson_date=date(2026, 11, 2)).model_dump(
                exclude={"kind"}
            )
        ),
        MarkFacts.model_validate(
            a_mark_posted(
                mark_id="m-3", subject_id="rus", subject_name="Русский язык", value="4"
            ).model_dump(exclude={"kind"})
        ),
    ]
    digests = [
        a_digest("2026-W48", "2 четверть", 4.5, 5),
        a_digest("2026-W47", "2 четверть", 3.0, 3),
        a_digest("2026-W49", "1 четверть", 2.0, 2),
    ]
    view = marks_view(marks, periods_of([QUARTER, YEAR]), digests, period_id=None, today=MONDAY)
    assert view.period is not None and view.period.name == "2 четверть"
    assert view.forecast_week == "2026-W48"
    math, rus = view.subjects
    assert [m.mark_id for m in math.marks] == ["m-1"]  # m-2 is of the first quarter
    assert math.forecast is not None and math.forecast.projected == 5
    assert rus.subject_name == "Русский язык" and rus.forecast is None
    year = marks_view(marks, periods_of([QUARTER, YEAR]), digests, period_id="y", today=MONDAY)
    assert [m.mark_id for m in year.subjects[0].marks] == ["m-2", "m-1"]
    assert year.forecast_week is None


def a_final(**changes: Any) -> dict[str, Any]:
    return {
        "school_id": SCHOOL,
        "student_id": "st-1",
        "student_name": "Иванов Иван",
        "class_name": "5А",
        "subject_id": "math",
        "subject_name": "Математика",
        "period_id": "q1",
        "period_name": "1 четверть",
        "period_kind": "quarter",
        "obtained_at": datetime(2026, 10, 30, 12, tzinfo=UTC),
        **changes,
    }


def test_a_final_mark_set_after_a_deferral_replaces_it() -> None:
    deferred = FinalMarkDeferredPayload(
        **a_final(final_mark_id="f-1", deferred_until=date(2026, 11, 20), reason="болезнь")
    )
    posted = FinalMarkPostedPayload(
        **a_final(final_mark_id="f-2", value="4", obtained_at=datetime(2026, 11, 20, tzinfo=UTC))
    )
    other = FinalMarkDeferredPayload(
        **a_final(
            final_mark_id="f-3",
            subject_id="rus",
            subject_name="Русский язык",
            deferred_until=date(2026, 11, 25),
            reason="болезнь",
        )
    )
    exam = ExamResultPostedPayload(
        school_id=SCHOOL,
        student_id="st-1",
        student_name="Иванов Иван",
        class_name="5А",
        result_id="e-1",
        result_kind="competition",
        title="Олимпиада по математике",
        value="2 место",
        obtained_at=datetime(2026, 11, 3, tzinfo=UTC),
    )
    orders: list[list[FinalMarkPostedPayload | FinalMarkDeferredPayload]] = [
        [deferred, posted, other],
        [posted, other, deferred],
    ]
    for order in orders:
        view = results_view(order, [exam])
        assert [(f.subject_name, f.value) for f in view.finals] == [("Математика", "4")]
        assert [(f.subject_name, f.deferred_until) for f in view.deferrals] == [
            ("Русский язык", date(2026, 11, 25))
        ]
        assert [e.value for e in view.exams] == ["2 место"]


def an_absence(absence_id: str, on: date, label: str) -> AbsenceRecordedPayload:
    return AbsenceRecordedPayload(
        school_id=SCHOOL,
        student_id="st-1",
        student_name="Иванов Иван",
        class_name="5А",
        absence_id=absence_id,
        subject_id="math",
        subject_name="Математика",
        lesson_date=on,
        lesson_number=1,
        code="Б" if label == "болезнь" else "У",
        code_label=label,
    )


def test_absences_of_the_period_newest_first_counted_by_reason() -> None:
    absences = [
        an_absence("a-1", date(2026, 11, 23), "болезнь"),
        an_absence("a-2", date(2026, 11, 24), "болезнь"),
        an_absence("a-3", date(2026, 11, 25), "уважительная причина"),
        an_absence("a-4", date(2026, 10, 1), "болезнь"),
    ]
    view = absences_view(absences, periods_of([QUARTER]), period_id=None, today=MONDAY)
    assert [a.lesson_date.day for a in view.absences] == [25, 24, 23]
    assert view.by_reason == (("болезнь", 2), ("уважительная причина", 1))


# The week, tests, teachers, holidays (the rules are schemas.schoolweek's, shared with the digest).


def test_the_week_marks_a_substitution_and_a_groups_cancellation() -> None:
    books, school, students = school_facts()
    first = week_view(SCHOOL, pupil_of(students["st-1"]), books["5a"], school, WEEK)
    second = week_view(SCHOOL, pupil_of(students["st-2"]), books["5a"], school, WEEK)
    monday_first = {lesson.lesson_number: lesson.status for lesson in first.days[0].lessons}
    monday_second = {lesson.lesson_number: lesson.status for lesson in second.days[0].lessons}
    assert monday_first[1] == "substituted" and monday_first[2] == "cancelled"
    assert monday_second[2] == "planned"
    assert monday_first[3] == "moved_out"
    assert [h.homework_id for h in first.days[2].homework_due] == ["h-1"]


def test_tests_ahead_are_the_students_own_and_not_the_cancelled_ones() -> None:
    books, _, students = school_facts()
    first = [
        t.assessment_id for t in upcoming_tests(pupil_of(students["st-1"]), books["5a"], MONDAY)
    ]
    second = [
        t.assessment_id for t in upcoming_tests(pupil_of(students["st-2"]), books["5a"], MONDAY)
    ]
    assert first == ["a-1", "a-2", "a-5"]
    assert second == ["a-1", "a-2", "a-3", "a-5"]
    assert upcoming_tests(pupil_of(students["st-1"]), books["5a"], day(3)) == upcoming_tests(
        pupil_of(students["st-1"]), books["5a"], day(3)
    )
    later = [
        t.assessment_id for t in upcoming_tests(pupil_of(students["st-1"]), books["5a"], day(3))
    ]
    assert later == ["a-2", "a-5"]


def test_teachers_are_the_students_groups_and_holidays_their_levels() -> None:
    books, school, students = school_facts()
    first = teachers_view(pupil_of(students["st-1"]), books["5a"], school, MONDAY)
    english = next(t for t in first if t.subject_name == "Английский язык")
    assert english.teacher_names == ("Смит Джон",)
    fifth = holidays_view(pupil_of(students["st-1"]), books["5a"], school, MONDAY)
    first_grader = holidays_view(pupil_of(students["st-4"]), books["1a"], school, MONDAY)
    assert fifth.school_year == "2026/2027"
    assert "Дополнительные каникулы для первоклассников" not in {d.name for d in fifth.spells}
    assert "Дополнительные каникулы для первоклассников" in {d.name for d in first_grader.spells}
    assert [d.name for d in fifth.next] == ["Методический день", "Зимние каникулы"]


def a_recommendation(rid: str, on: date) -> RecommendationPostedPayload:
    return RecommendationPostedPayload(
        school_id=SCHOOL,
        student_id="st-1",
        student_name="Иванов Иван",
        class_name="5А",
        recommendation_id=rid,
        teacher_name="Петрова Анна Сергеевна",
        given_on=on,
        text="Повторить таблицу умножения",
    )


def test_recommendations_newest_first() -> None:
    view = recommendations_view([a_recommendation("r-1", day(0)), a_recommendation("r-2", day(1))])
    assert [r.given_on for r in view] == [day(1), day(0)]


def test_iso_weeks() -> None:
    assert monday_of("2026-W49") == MONDAY and week_of(day(6)) == WEEK
    with pytest.raises(ValueError):
        monday_of("2026-W54")


# The pages.


def environment() -> Environment:
    base = "<main>{% block content %}{% endblock %}</main>"
    return Environment(
        loader=ChoiceLoader([DictLoader({"base.html": base}), FileSystemLoader(TEMPLATES)]),
        undefined=StrictUndefined,
        # As the account's pages: escaped by the name's extension.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    )


def render(section: str, view: Any, **extra: Any) -> str:
    context = {
        "child": Child(SCHOOL, "st-1", "Иванов Иван"),
        "csrf_token": "token",
        "section": section,
        "sections": TITLES,
        "view": view,
        **extra,
    }
    return environment().get_template(f"family/{section}.html").render(context)


def test_every_section_renders_in_russian() -> None:
    books, school, students = school_facts()
    st1 = pupil_of(students["st-1"])
    week = week_view(SCHOOL, st1, books["5a"], school, WEEK)
    weeks = {"previous_week": "2026-W48", "next_week": "2026-W50"}
    marks = marks_view(
        [MarkFacts.model_validate(a_mark_posted().model_dump(exclude={"kind"}))],
        periods_of([QUARTER]),
        [a_digest("2026-W48", "2 четверть", 4.5, 5)],
        period_id=None,
        today=MONDAY,
    )
    html = render("marks", marks)
    assert "Математика" in html and "4.50" in html and "selected" in html
    assert "замена" in render("timetable", week, **weeks)
    assert "№ 245, 247" in render("homework", week, **weeks)
    assert "Расписание класса пока не получено" in render("timetable", None, **weeks)
    assert "Дроби" in render("tests", upcoming_tests(st1, books["5a"], MONDAY))
    assert "Смит Джон" in render("teachers", teachers_view(st1, books["5a"], school, MONDAY))
    assert "Зимние каникулы" in render("holidays", holidays_view(st1, books["5a"], school, MONDAY))
    assert "Рекомендаций пока нет" in render("recommendations", [])
    assert "Пропусков за этот период нет" in render(
        "absences", absences_view([], periods_of([QUARTER]), period_id=None, today=MONDAY)
    )
    deferred = FinalMarkDeferredPayload(
        **a_final(final_mark_id="f-1", deferred_until=date(2026, 11, 20), reason="болезнь")
    )
    assert "до <time" in render("results", results_view([deferred], []))


def a_notice(content: Any, key: str) -> InboxItem:
    request = NotificationRequestedPayload(
        student_id="st-1",
        dedupe_key=key,
        source_event_id=uuid.uuid4(),
        recipient_id="g-1",
        recipient_name="Иванова Мария Петровна",
        channel="inbox",
        address=None,
        category="marks",
        content=content,
    )
    return InboxItem(key, request.category, AT, request.content, read=key == "old")


def test_the_inbox_gives_each_notice_a_russian_title_and_says_which_are_unread() -> None:
    mark = a_notice(a_mark_posted(), "new")
    change = a_notice(a_lesson_change(), "old")
    view = InboxView((mark, change), next_cursor="abc", unread=1, opened=change)
    html = render("inbox", view)
    assert "Новая оценка: Математика" in html
    assert "Изменение в расписании: Английский язык" in html
    assert "болезнь учителя" in html
    assert html.count("Отметить прочитанным") == 1  # the read one has no button
    assert "?cursor=abc" in html and "непрочитанных: 1" in html
    sneaky = a_notice(a_mark_posted(subject_name="<script>alert(1)</script>"), "x")
    escaped = render("inbox", InboxView((sneaky,)))
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
    nobody = render("inbox", InboxView(recipient_known=False))
    assert "Сообщения приходят родителям" in nobody


async def test_the_module_answers_the_accounts_contract_and_refuses_unknown_sections() -> None:
    module: FamilyModule = build_family(_NoDatabase())  # type: ignore[arg-type]
    assert set(module.consumes) == set(FAMILY_EVENTS)
    viewer = Viewer((Identity(SCHOOL, "g-1"),), (Child(SCHOOL, "st-1"),))
    page = await module.views.child_page(viewer, viewer.children[0], "nope", {}, now=AT)
    assert page is None
    action = await module.views.child_action(viewer, viewer.children[0], "marks", {}, now=AT)
    assert action is None
    assert [name for name, _ in module.loops()] == ["family inbox retention"]


class _NoDatabase:
    """Collections by name, never used: the checks above stop before any read."""

    def __getitem__(self, name: str) -> object:
        return object()


# The Kafka wiring, on FastStream's in-memory broker.


class FakeStore:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.inbox: list[tuple[NotificationRequestedPayload, datetime]] = []

    async def put(self, records: list[Record]) -> None:
        self.records.extend(records)

    async def put_inbox(
        self, requests: list[tuple[NotificationRequestedPayload, datetime]]
    ) -> None:
        self.inbox.extend(requests)


async def test_each_topic_is_read_into_records_and_only_the_inbox_channel_into_the_inbox() -> None:
    broker, topics, store = KafkaBroker(), Topics(), FakeStore()
    register_family_handlers(
        broker,
        topics,
        store=store,  # type: ignore[arg-type]
        group_id="account-family",
        dead_letters=DeadLetters(broker, topics, CollectorRegistry()),
    )
    read = {topic.name for s in broker.subscribers for topic in s.topics}  # type: ignore[attr-defined]
    assert read == {event.topic for event in FAMILY_EVENTS}
    mark = MarkPosted.new(a_mark_posted(), producer="grades")
    notices = [
        NotificationRequested.new(
            NotificationRequestedPayload(
                student_id="st-1",
                dedupe_key=f"n-{channel}",
                source_event_id=mark.event_id,
                recipient_id="g-1",
                recipient_name="Иванова Мария Петровна",
                channel=channel,
                address=None if channel == "inbox" else "maria@example.org",
                category="marks",
                content=mark.payload,
            ),
            producer="consent",
        )
        for channel in ("email", "inbox")
    ]
    async with TestKafkaBroker(broker) as test_broker:
        events: list[Envelope[Any]] = [mark, *notices]
        for event in events:
            await test_broker.publish(event.model_dump(mode="json"), topic=event.topic)
        await asyncio.sleep(0.1)
    assert [r.record_id for r in store.records] == ["school-1/mark/m-1"]
    assert [request.dedupe_key for request, _ in store.inbox] == ["n-inbox"]
