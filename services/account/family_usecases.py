"""What the account's child pages ask the family read model, and the pages themselves.

Each query takes the school and the student (or the recipient, for the inbox) and answers a
dataclass the page renders, from one or two indexed equality reads (and the student's own
record, by `_id`, where the class decides). Who may see which child is the account's check,
made before any of these is called; nothing here answers across schools (every key carries
the school).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from schemas import Envelope, Topics
from schemas.digest import WeekTeacher
from schemas.schoolweek import ClassBook, Pupil, SchoolFacts, StudentWeekOut, TestOut
from services.account.extract_pages import ExtractForm, ExtractSource, extract
from services.account.family import (
    AbsencesView,
    HolidaysView,
    InboxView,
    MarksView,
    RecommendationOut,
    ResultsView,
    absences_view,
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
from services.account.family_handlers import FAMILY_EVENTS, register_family_handlers
from services.account.family_store import MongoFamilyStore
from services.account.views import (
    Child,
    FamilyFile,
    FamilyPage,
    FamilyRedirect,
    FamilyViews,
    Viewer,
)
from services.shared.kafka import DeadLetters
from services.shared.mongo import Document
from services.shared.pages import InvalidCursorError
from services.shared.retention import purge_expired
from services.shared.timezones import school_zone

DEFAULT_ZONE = ZoneInfo("Europe/Moscow")
INBOX_PAGE = 20
INBOX_KEPT = timedelta(days=400)  # a school year and its summer: then the notices go
RETENTION_EVERY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class StudentContext:
    """The student as the read model knows them (None until the journal named them), their
    class's facts and their school's."""

    pupil: Pupil | None
    book: ClassBook
    school: SchoolFacts
    today: date


async def _context(
    store: MongoFamilyStore, school_id: str, student_id: str, now: datetime
) -> StudentContext:
    student = await store.student(school_id, student_id)
    school_read = store.school(school_id)
    if student is None:
        school, _, named = await school_read
        book = ClassBook(class_id="")
    else:
        (school, _, named), book = await asyncio.gather(
            school_read, store.class_book(school_id, student.class_id)
        )
    zone = school_zone(named.timezone if named else None, DEFAULT_ZONE)
    pupil = pupil_of(student) if student else None
    return StudentContext(pupil, book, school, now.astimezone(zone).date())


# The queries.


async def marks(
    store: MongoFamilyStore,
    school_id: str,
    student_id: str,
    *,
    period_id: str | None,
    now: datetime,
) -> MarksView:
    """The period's marks by subject with the digest's averages and forecast; the period
    holding today unless `period_id` names one."""
    (_, periods, named), found, digests = await asyncio.gather(
        store.school(school_id),
        store.of_student(school_id, student_id, "mark"),
        store.of_student(school_id, student_id, "digest"),
    )
    today = now.astimezone(school_zone(named.timezone if named else None, DEFAULT_ZONE)).date()
    return marks_view(found, periods_of(periods), digests, period_id=period_id, today=today)


async def results(store: MongoFamilyStore, school_id: str, student_id: str) -> ResultsView:
    """Final marks, deferrals (clause 8) and exam results."""
    finals, exams = await asyncio.gather(
        store.of_student(school_id, student_id, "final"),
        store.of_student(school_id, student_id, "exam"),
    )
    return results_view(finals, exams)


async def absences(
    store: MongoFamilyStore,
    school_id: str,
    student_id: str,
    *,
    period_id: str | None,
    now: datetime,
) -> AbsencesView:
    (_, periods, named), found = await asyncio.gather(
        store.school(school_id), store.of_student(school_id, student_id, "absence")
    )
    today = now.astimezone(school_zone(named.timezone if named else None, DEFAULT_ZONE)).date()
    return absences_view(found, periods_of(periods), period_id=period_id, today=today)


async def week(
    store: MongoFamilyStore,
    school_id: str,
    student_id: str,
    *,
    week: str | None,
    now: datetime,
) -> StudentWeekOut | None:
    """The student's ISO week (this week unless `week` names one): lessons with changes
    marked, homework, tests. None while the journal has not named the student. ValueError
    for a `week` that is not an ISO week."""
    if week is not None:
        monday_of(week)
    context = await _context(store, school_id, student_id, now)
    if context.pupil is None:
        return None
    chosen = week or week_of(context.today)
    return week_view(school_id, context.pupil, context.book, context.school, chosen)


async def tests(
    store: MongoFamilyStore, school_id: str, student_id: str, *, now: datetime
) -> list[TestOut]:
    """The student's tests ahead, by date."""
    context = await _context(store, school_id, student_id, now)
    return upcoming_tests(context.pupil, context.book, context.today) if context.pupil else []


async def teachers(
    store: MongoFamilyStore, school_id: str, student_id: str, *, now: datetime
) -> list[WeekTeacher]:
    context = await _context(store, school_id, student_id, now)
    if context.pupil is None:
        return []
    return teachers_view(context.pupil, context.book, context.school, context.today)


async def holidays(
    store: MongoFamilyStore, school_id: str, student_id: str, *, now: datetime
) -> HolidaysView:
    context = await _context(store, school_id, student_id, now)
    if context.pupil is None:
        return HolidaysView(None)
    return holidays_view(context.pupil, context.book, context.school, context.today)


async def recommendations(
    store: MongoFamilyStore, school_id: str, student_id: str
) -> list[RecommendationOut]:
    return recommendations_view(await store.of_student(school_id, student_id, "recommendation"))


async def inbox(
    store: MongoFamilyStore,
    school_id: str,
    recipient_id: str,
    *,
    limit: int = INBOX_PAGE,
    cursor: str | None = None,
    open_item: str | None = None,
) -> InboxView:
    """A page of the recipient's inbox, the newest first, and how many are unread; the
    notice `open_item` opened (and so marked read) first. InvalidCursorError for a cursor
    this list did not give out."""
    opened = await store.open(school_id, recipient_id, open_item) if open_item else None
    if cursor is None:  # the inbox as it opens: one read
        items, next_cursor, unread = await store.first_page(school_id, recipient_id, limit=limit)
        return InboxView(tuple(items), next_cursor, unread, opened)
    (items, next_cursor), unread = await asyncio.gather(
        store.inbox(school_id, recipient_id, limit=limit, after=cursor),
        store.unread(school_id, recipient_id),
    )
    return InboxView(tuple(items), next_cursor, unread, opened)


async def mark_read(
    store: MongoFamilyStore, school_id: str, recipient_id: str, item_id: str
) -> bool:
    return await store.mark_read(school_id, recipient_id, item_id)


# The pages (`services.account.views.FamilyViews`).

TITLES = {
    "marks": "Оценки",
    "results": "Итоговые оценки и экзамены",
    "absences": "Пропуски",
    "timetable": "Расписание",
    "homework": "Домашние задания",
    "tests": "Контрольные и проверочные",
    "teachers": "Учителя",
    "holidays": "Каникулы",
    "recommendations": "Рекомендации учителей",
    "inbox": "Сообщения",
    "extract": "Выписка",
}
SECTIONS = tuple(TITLES)


class FamilyPages:
    """Each section of a child's page: the query, then its template (`family/<section>`)."""

    def __init__(self, store: MongoFamilyStore, extracts: ExtractSource | None = None) -> None:
        self._store = store
        self._extracts = extracts

    async def child_page(
        self,
        viewer: Viewer,
        child: Child,
        section: str,
        query: Mapping[str, str],
        *,
        now: datetime,
    ) -> FamilyPage | FamilyFile | None:
        section = section or "marks"
        if section not in TITLES:
            return None
        if section == "extract":
            return await self._extract(viewer, child, query, now)
        view = await self._view(viewer, child, section, query, now)
        context: dict[str, Any] = {"section": section, "sections": TITLES, "view": view}
        if isinstance(view, StudentWeekOut):
            monday = monday_of(view.week)
            context["previous_week"] = week_of(monday - timedelta(days=7))
            context["next_week"] = week_of(monday + timedelta(days=7))
        return FamilyPage(f"family/{section}.html", TITLES[section], context)

    async def _extract(
        self, viewer: Viewer, child: Child, query: Mapping[str, str], now: datetime
    ) -> FamilyPage | FamilyFile | None:
        """The PDF extract: the digest renders it (`extract_pages.py`)."""
        _, _, named = await self._store.school(child.school_id)
        today = now.astimezone(school_zone(named.timezone if named else None, DEFAULT_ZONE))
        outcome = await extract(self._extracts, viewer, child, query, today=today.date())
        if not isinstance(outcome, ExtractForm):
            return outcome
        context = {"section": "extract", "sections": TITLES, "view": outcome}
        return FamilyPage("family/extract.html", TITLES["extract"], context, outcome.status)

    async def _view(
        self, viewer: Viewer, child: Child, section: str, query: Mapping[str, str], now: datetime
    ) -> Any:
        store, school_id, student_id = self._store, child.school_id, child.student_id
        period = query.get("period") or None
        match section:
            case "marks":
                return await marks(store, school_id, student_id, period_id=period, now=now)
            case "results":
                return await results(store, school_id, student_id)
            case "absences":
                return await absences(store, school_id, student_id, period_id=period, now=now)
            case "timetable" | "homework":
                asked = query.get("week") or None
                try:
                    return await week(store, school_id, student_id, week=asked, now=now)
                except ValueError:  # a week that is none: this week's page
                    return await week(store, school_id, student_id, week=None, now=now)
            case "tests":
                return await tests(store, school_id, student_id, now=now)
            case "teachers":
                return await teachers(store, school_id, student_id, now=now)
            case "holidays":
                return await holidays(store, school_id, student_id, now=now)
            case "recommendations":
                return await recommendations(store, school_id, student_id)
        recipient = viewer.recipient_in(school_id)
        if recipient is None:
            return InboxView(recipient_known=False)
        item = query.get("item") or None
        try:
            return await inbox(
                store, school_id, recipient, cursor=query.get("cursor") or None, open_item=item
            )
        except InvalidCursorError:  # a cursor this list did not give out: the first page
            return await inbox(store, school_id, recipient, open_item=item)

    async def child_action(
        self,
        viewer: Viewer,
        child: Child,
        section: str,
        form: Mapping[str, str],
        *,
        now: datetime,
    ) -> FamilyPage | FamilyFile | FamilyRedirect | None:
        """`POST …/inbox` with `item`: mark a notice read without opening it."""
        recipient = viewer.recipient_in(child.school_id)
        if section != "inbox" or recipient is None or not form.get("item"):
            return None
        await mark_read(self._store, child.school_id, recipient, form["item"])
        return FamilyRedirect(f"/children/{child.school_id}/{child.student_id}/inbox")


# The wiring the account's app calls (`services.account.views.FamilyModule`).


class FamilyReadModel:
    def __init__(
        self,
        store: MongoFamilyStore,
        *,
        inbox_kept: timedelta = INBOX_KEPT,
        extracts: ExtractSource | None = None,
    ) -> None:
        self.store = store
        self.inbox_kept = inbox_kept
        self.views: FamilyViews = FamilyPages(store, extracts)
        self.consumes: tuple[type[Envelope[Any]], ...] = FAMILY_EVENTS

    def register(
        self, broker: KafkaBroker, topics: Topics, *, group_id: str, dead_letters: DeadLetters
    ) -> None:
        register_family_handlers(
            broker, topics, store=self.store, group_id=group_id, dead_letters=dead_letters
        )

    async def ensure_indexes(self) -> None:
        await self.store.ensure_indexes()

    def loops(self) -> Sequence[tuple[str, Callable[[], Awaitable[None]]]]:
        """The inbox's retention (152-FZ: kept no longer than needed): a pass a day."""
        rules = self.store.retention_rules(inbox=self.inbox_kept)

        async def purge() -> None:
            await purge_expired(rules, now=datetime.now(UTC))
            await asyncio.sleep(RETENTION_EVERY_SECONDS)

        return (("family inbox retention", purge),)


def build_family(
    database: AsyncDatabase[Document],
    *,
    inbox_kept: timedelta = INBOX_KEPT,
    extracts: ExtractSource | None = None,
) -> FamilyReadModel:
    """The family read model on the account's database (its collections are `family_*`);
    `extracts`: where the "Выписка" section gets its PDFs (the digest), none without it."""
    return FamilyReadModel(MongoFamilyStore(database), inbox_kept=inbox_kept, extracts=extracts)
