"""What a family sees, on the real broker and database (issue 14, item 2): the account's family
read model consumes the journal's topics, the digest's weekly facts and the inbox's requests,
and answers each page's query from indexed equality reads; retractions and late older
versions do not show, a poison message goes to its dead-letter topic, and nothing crosses
schools."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import (
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from schemas import Envelope, Topics
from schemas.classwork import (
    RecommendationPosted,
    RecommendationPostedPayload,
    RecommendationRetracted,
    RecommendationRetractedPayload,
)
from schemas.digest import Forecast, SubjectWeek, WeeklyDigestCompiled, WeeklyDigestPayload
from schemas.journal import (
    AbsenceRecorded,
    AbsenceRecordedPayload,
    FinalMarkDeferred,
    FinalMarkDeferredPayload,
    FinalMarkPosted,
    FinalMarkPostedPayload,
    MarkCorrected,
    MarkCorrectedPayload,
    MarkPosted,
    MarkRetracted,
    MarkRetractedPayload,
    PeriodChanged,
    PeriodChangedPayload,
)
from schemas.notify import NotificationRequested, NotificationRequestedPayload
from services.account import family_usecases as family
from services.account.family_store import COLLECTIONS, INBOX, MongoFamilyStore
from services.account.family_usecases import TITLES, FamilyReadModel, build_family
from services.account.views import Child, FamilyPage, FamilyRedirect, Identity, Viewer
from services.shared.kafka import create_broker, ensure_topics
from services.shared.mongo import Document
from services.shared.retention import purge_expired
from tests.builders import a_lesson_change, a_mark_posted
from tests.kafka_tools import eventually, produce_events, produce_raw, read_topic
from tests.school_week import SCHOOL, WEEK, day, reference, term
from tests.servers import Servers

TEMPLATES = Path(__file__).parents[2] / "services" / "account" / "templates"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday of the week under test, 12:00 in Moscow
OTHER = "school-2"  # reuses st-1 and m-1: journals' ids collide across schools


def _new(event: type[Envelope[Any]], payload: Any, producer: str = "grades") -> Envelope[Any]:
    return event.new(payload, producer=producer)


def student_facts(**more: Any) -> dict[str, Any]:
    return {
        "school_id": SCHOOL,
        "student_id": "st-1",
        "student_name": "Иванов Иван",
        "class_name": "5А",
        **more,
    }


def final(**more: Any) -> dict[str, Any]:
    return student_facts(
        subject_id="math",
        subject_name="Математика",
        period_id="q1",
        period_name="1 четверть",
        period_kind="quarter",
        **more,
    )


def a_request(content: Any, key: str, channel: str, at_minute: int) -> Envelope[Any]:
    event = _new(
        NotificationRequested,
        NotificationRequestedPayload(
            student_id="st-1",
            dedupe_key=key,
            source_event_id=uuid.uuid4(),
            recipient_id="g-1",
            recipient_name="Иванова Мария Петровна",
            channel=channel,
            address=None if channel == "inbox" else "maria@example.org",
            category="marks",
            content=content,
            student_names=("Иванов Иван",),
        ),
        producer="consent",
    )
    return event.model_copy(update={"occurred_at": NOW + timedelta(minutes=at_minute)})


def the_childs_record() -> list[Envelope[Any]]:
    """st-1's marks (one corrected, one retracted, a late older version), an absence, a final
    mark after its deferral, a recommendation taken back, the digest's forecast, the periods,
    the inbox; and another school's st-1."""
    mark = a_mark_posted(record_version=1)
    fields = mark.model_dump(exclude={"kind", "record_version"})
    later = a_mark_posted(
        mark_id="m-2", value="3", lesson_date=date(2026, 11, 25), record_version=1
    ).model_dump(exclude={"kind", "record_version"})
    forecast = Forecast(mean=4.33, projected=4, mark_count=3, too_few=False, trend="steady")
    recommendation = student_facts(
        recommendation_id="r-1",
        teacher_name="Петрова Анна Сергеевна",
        given_on=day(0),
        text="Повторить таблицу умножения",
    )
    return [
        _new(
            PeriodChanged,
            PeriodChangedPayload(
                school_id=SCHOOL,
                period_id="q2",
                name="2 четверть",
                period_kind="quarter",
                school_year="2026/2027",
                starts_on=date(2026, 11, 5),
                ends_on=date(2026, 12, 28),
            ),
        ),
        _new(MarkPosted, mark),
        _new(
            MarkCorrected,
            MarkCorrectedPayload(**{**fields, "value": "4"}, previous_value="5", record_version=3),
        ),
        _new(
            MarkCorrected,
            MarkCorrectedPayload(**{**fields, "value": "2"}, previous_value="5", record_version=2),
        ),
        _new(
            MarkPosted,
            a_mark_posted(
                mark_id="m-2", value="3", lesson_date=date(2026, 11, 25), record_version=1
            ),
        ),
        _new(MarkRetracted, MarkRetractedPayload(**later, record_version=2)),
        _new(MarkPosted, a_mark_posted(school_id=OTHER, value="2", subject_name="Чужая")),
        _new(
            AbsenceRecorded,
            AbsenceRecordedPayload(
                **student_facts(),
                absence_id="ab-1",
                subject_id="math",
                subject_name="Математика",
                lesson_date=date(2026, 11, 24),
                code="Б",
                code_label="болезнь",
            ),
        ),
        _new(
            FinalMarkDeferred,
            FinalMarkDeferredPayload(
                **final(),
                final_mark_id="f-1",
                obtained_at=datetime(2026, 10, 30, tzinfo=UTC),
                deferred_until=date(2026, 11, 20),
                reason="болезнь",
            ),
        ),
        _new(
            FinalMarkPosted,
            FinalMarkPostedPayload(
                **final(),
                final_mark_id="f-2",
                value="4",
                obtained_at=datetime(2026, 11, 20, tzinfo=UTC),
            ),
        ),
        _new(RecommendationPosted, RecommendationPostedPayload(**recommendation, record_version=1)),
        _new(
            RecommendationRetracted,
            RecommendationRetractedPayload(**recommendation, record_version=2),
        ),
        _new(
            RecommendationPosted,
            RecommendationPostedPayload(
                **{**recommendation, "recommendation_id": "r-2", "text": "Читать вслух"},
                record_version=1,
            ),
        ),
        _new(
            WeeklyDigestCompiled,
            WeeklyDigestPayload(
                **student_facts(),
                week="2026-W48",
                week_start=date(2026, 11, 23),
                week_end=date(2026, 11, 29),
                period_name="2 четверть",
                subjects=(
                    SubjectWeek(subject_id="math", subject_name="Математика", forecast=forecast),
                ),
            ),
            producer="digest",
        ),
        a_request(a_mark_posted(), "n-1", "inbox", 1),
        a_request(a_lesson_change(), "n-2", "inbox", 2),
        a_request(a_mark_posted(), "n-3", "email", 3),  # not the account's channel
        a_request(a_mark_posted(mark_id="m-9"), "n-4", "inbox", 4),
    ]


@pytest.fixture
async def read_model(
    servers: Servers, topics: Topics, run_id: str, database: AsyncDatabase[Document]
) -> AsyncIterator[FamilyReadModel]:
    broker, dead_letters = create_broker(
        servers.kafka_bootstrap, service="account", topics=topics, registry=CollectorRegistry()
    )
    module = build_family(database)
    module.register(broker, topics, group_id=f"{run_id}-family", dead_letters=dead_letters)
    await module.ensure_indexes()
    await ensure_topics(
        servers.kafka_bootstrap,
        [topics.of(event) for event in module.consumes],
        partitions=2,
        replication_factor=1,
    )
    await broker.start()
    try:
        yield module
    finally:
        await broker.stop()


async def test_a_family_reads_back_what_the_journal_the_digest_and_consent_published(
    read_model: FamilyReadModel, servers: Servers, topics: Topics
) -> None:
    store = read_model.store
    poison = topics.of(MarkPosted)
    await produce_raw(servers.kafka_bootstrap, poison, b'{"type": "MarkPosted"}', b"st-1")
    await produce_events(
        servers.kafka_bootstrap, [*reference(), *term(), *the_childs_record()], topics.prefix
    )

    async def loaded() -> bool:
        week = await family.week(store, SCHOOL, "st-1", week=WEEK, now=NOW)
        inbox = await family.inbox(store, SCHOOL, "g-1")
        marks = await family.marks(store, SCHOOL, "st-1", period_id=None, now=NOW)
        recommendations = await family.recommendations(store, SCHOOL, "st-1")
        results = await family.results(store, SCHOOL, "st-1")
        return (
            week is not None
            and bool(week.days[0].lessons)
            and len(inbox.items) == 3
            and marks.forecast_week == "2026-W48"
            and any(m.value == "4" for s in marks.subjects for m in s.marks)
            and len(recommendations) == 1
            and bool(results.finals)
            and (await family.holidays(store, SCHOOL, "st-1", now=NOW)).school_year is not None
        )

    await eventually(loaded, timeout=90)

    marks = await family.marks(store, SCHOOL, "st-1", period_id=None, now=NOW)
    assert marks.period is not None and marks.period.name == "2 четверть"
    [math] = marks.subjects
    # m-1 corrected to 4 (version 3; version 2's «2» came late), m-2 retracted, school-2's unseen.
    assert [(m.mark_id, m.value) for m in math.marks] == [("m-1", "4")]
    assert math.forecast is not None and math.forecast.projected == 4

    results = await family.results(store, SCHOOL, "st-1")
    assert [(f.subject_name, f.value) for f in results.finals] == [("Математика", "4")]
    assert results.deferrals == ()
    absences = await family.absences(store, SCHOOL, "st-1", period_id="q2", now=NOW)
    assert [a.code_label for a in absences.absences] == ["болезнь"]
    assert [r.text for r in await family.recommendations(store, SCHOOL, "st-1")] == ["Читать вслух"]

    week = await family.week(store, SCHOOL, "st-1", week=WEEK, now=NOW)
    assert week is not None and week.week_parity == "B"
    monday = [(x.lesson_number, x.status) for x in week.days[0].lessons]
    assert monday == [(1, "substituted"), (2, "cancelled"), (3, "moved_out")]
    assert [h.homework_id for h in week.days[0].homework_set] == ["h-2", "h-1", "h-3"]
    assert week.days[4].non_school is not None  # Friday: a non-school day
    assert [t.assessment_id for t in await family.tests(store, SCHOOL, "st-1", now=NOW)] == [
        "a-1",
        "a-2",
        "a-5",
    ]
    teachers = await family.teachers(store, SCHOOL, "st-1", now=NOW)
    assert ("Английский язык", ("Смит Джон",)) in [
        (t.subject_name, t.teacher_names) for t in teachers
    ]
    holidays = await family.holidays(store, SCHOOL, "st-1", now=NOW)
    assert [d.name for d in holidays.next] == ["Методический день", "Зимние каникулы"]

    # The inbox: the newest first, paged, one unread fewer once opened; another school's
    # recipient of the same id sees nothing.
    first = await family.inbox(store, SCHOOL, "g-1", limit=2)
    assert [i.item_id for i in first.items] == ["n-4", "n-2"] and first.unread == 3
    rest = await family.inbox(store, SCHOOL, "g-1", limit=2, cursor=first.next_cursor)
    assert [i.item_id for i in rest.items] == ["n-1"] and rest.next_cursor is None
    opened = await family.inbox(store, SCHOOL, "g-1", open_item="n-2")
    assert opened.opened is not None and opened.opened.read and opened.unread == 2
    assert await family.mark_read(store, SCHOOL, "g-1", "n-1")
    assert (await family.inbox(store, SCHOOL, "g-1")).unread == 1
    assert (await family.inbox(store, OTHER, "g-1")).items == ()
    assert await family.inbox(store, OTHER, "g-1", open_item="n-4") == await family.inbox(
        store, OTHER, "g-1"
    )
    # Across schools: school-2's st-1 has its one mark and no week (the journal never named them).
    other = await family.marks(store, OTHER, "st-1", period_id=None, now=NOW)
    assert [m.value for s in other.subjects for m in s.marks] == ["2"]
    assert await family.week(store, OTHER, "st-1", week=WEEK, now=NOW) is None

    # Every page renders from what was read (StrictUndefined: nothing the page asks is missing).
    viewer = Viewer((Identity(SCHOOL, "g-1"),), (Child(SCHOOL, "st-1", "Иванов Иван"),))
    pages = Environment(
        loader=ChoiceLoader(
            [
                DictLoader({"base.html": "{% block content %}{% endblock %}"}),
                FileSystemLoader(TEMPLATES),
            ]
        ),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",)),
    )
    for section in [*TITLES, ""]:
        page = await read_model.views.child_page(viewer, viewer.children[0], section, {}, now=NOW)
        assert isinstance(page, FamilyPage), section
        html = pages.get_template(page.template).render(
            {
                **page.context,
                "child": viewer.children[0],
                "viewer": viewer,
                "csrf_token": "t",
                "now": NOW,
            }
        )
        assert page.title in html or section == ""
    marks_page = await read_model.views.child_page(viewer, viewer.children[0], "marks", {}, now=NOW)
    assert isinstance(marks_page, FamilyPage)
    assert "4.33" in pages.get_template(marks_page.template).render(
        {**marks_page.context, "child": viewer.children[0], "csrf_token": "t"}
    )
    done = await read_model.views.child_action(
        viewer, viewer.children[0], "inbox", {"item": "n-4"}, now=NOW
    )
    assert isinstance(done, FamilyRedirect) and done.location.endswith("/inbox")
    assert (await family.inbox(store, SCHOOL, "g-1")).unread == 0

    # The inbox's retention: what is older than it keeps goes.
    rules = store.retention_rules(inbox=timedelta(days=400))
    assert await purge_expired(rules, now=NOW + timedelta(days=400, minutes=3)) == {INBOX: 2}
    assert [i.item_id for i in (await family.inbox(store, SCHOOL, "g-1")).items] == ["n-4"]

    dead = await read_topic(servers.kafka_bootstrap, topics.dead_letter(poison), at_least=1)
    assert len(dead) == 1


async def test_every_query_filters_on_an_index_of_its_keys(
    database: AsyncDatabase[Document], servers: Servers
) -> None:
    store = MongoFamilyStore(database)
    await store.ensure_indexes()
    for name, key in COLLECTIONS.values():
        indexes = await database[name].index_information()
        assert [(key, 1), ("kind", 1), ("gone", 1)] in [i["key"] for i in indexes.values()], name
    inbox = await database[INBOX].index_information()
    assert [("recipient_key", 1), ("occurred_at", -1)] in [i["key"] for i in inbox.values()]
    if servers.origin != "local stack":
        return  # what follows asks FerretDB on PostgreSQL for its plans
    await database["family_student_records"].insert_many(
        [
            {"_id": f"s/mark/{n}", "student_key": f"s/st-{n % 50}", "kind": "mark", "gone": False}
            for n in range(2000)
        ]
    )
    await database[INBOX].insert_many(
        [
            {"_id": f"s/g-{n % 50}/{n}", "recipient_key": f"s/g-{n % 50}", "read": False}
            for n in range(2000)
        ]
    )
    queries = [
        ("family_student_records", {"student_key": "s/st-7", "kind": "mark", "gone": False}),
        ("family_class_records", {"class_key": "s/5a", "gone": False}),
        ("family_school_records", {"school_id": "s", "gone": False}),
        (INBOX, {"recipient_key": "s/g-7", "read": False}),
        # The inbox's next page (services.shared.pages.find_page's keyset beside the equality).
        (INBOX, {"recipient_key": "s/g-7", "$or": [{"occurred_at": {"$lt": 1}}, {"_id": "x"}]}),
    ]
    for name, query in queries:
        explained = await database.command(
            "explain", {"find": name, "filter": query}, verbosity="queryPlanner"
        )
        assert (index_used(explained["queryPlanner"]["Plan"]) or "").endswith("_gin"), name


def index_used(node: dict[str, Any]) -> str | None:
    if "Index Name" in node:
        return str(node["Index Name"])
    return next((name for child in node.get("Plans", []) if (name := index_used(child))), None)
