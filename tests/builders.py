"""Test data, built one way for every test module (cosmicpython's `random_refs`): events and
records as the services make them. A test module never imports another test module."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from schemas import MarkPosted, MarkPostedPayload, NotificationRequested, StudentChanged
from schemas.journal import FinalMarkPostedPayload, StudentChangedPayload
from schemas.timetable import SUBSTITUTION, LessonChangePostedPayload
from services.consent.domain import (
    Consent,
    Contact,
    Preferences,
    Recipient,
    RecipientFile,
    notification_requests,
)
from services.grades.facts import ReferenceBook
from services.grades.items import (
    AssignmentIn,
    ClassIn,
    PeriodIn,
    SchoolIn,
    StudentIn,
    SubjectIn,
    TeacherIn,
)


def a_mark_posted(**changes: object) -> MarkPostedPayload:
    """The payload of a MarkPosted, as grades publishes it."""
    fields: dict[str, object] = {
        "student_id": "st-1",
        "mark_id": "m-1",
        "school_id": "school-1",
        "student_name": "Иванов Иван",
        "class_name": "5А",
        "subject_id": "math",
        "subject_name": "Математика",
        "teacher_name": "Петрова А. С.",
        "lesson_date": date(2026, 11, 27),
        "value": "5",
        "work_type": "контрольная работа",
        "weight": 2.0,
    }
    return MarkPostedPayload(**{**fields, **changes})


def a_final_mark_posted(obtained_at: datetime, **changes: object) -> FinalMarkPostedPayload:
    """The payload of a FinalMarkPosted: a quarter's final mark obtained at `obtained_at`."""
    fields: dict[str, object] = {
        "student_id": "st-1",
        "school_id": "school-1",
        "student_name": "Иванов Иван",
        "class_name": "5А",
        "subject_id": "math",
        "subject_name": "Математика",
        "period_id": "q2",
        "period_name": "2 четверть",
        "period_kind": "quarter",
        "obtained_at": obtained_at,
        "final_mark_id": "f-1",
        "value": "5",
    }
    return FinalMarkPostedPayload(**{**fields, **changes})


# A guardian who consented and handed over both contacts in writing.
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
GRANTED = Consent("c-1", "school-1", "g-1", "st-1", "granted", date(2026, 9, 1), None, NOW)
EMAIL = Contact("email", "maria@example.org", "written: № 17 от 02.09.2026")
PHONE = Contact("sms", "+79161234567", "written: № 17 от 02.09.2026")
MOTHER = Recipient("g-1", "school-1", "Иванова Мария Петровна", "guardian", ("st-1",), "мать")
CONSENTING = RecipientFile(MOTHER, GRANTED, {"email": EMAIL, "sms": PHONE}, Preferences())


def a_book(**school: Any) -> ReferenceBook:
    return ReferenceBook(
        school=SchoolIn(name="Школа № 1", **school),
        periods={
            "q2": PeriodIn(
                name="2 четверть",
                period_kind="quarter",
                school_year="2026/2027",
                starts_on=date(2026, 11, 5),
                ends_on=date(2026, 12, 28),
            )
        },
        classes={"5a": ClassIn(name="5А", education_level="basic")},
        students={"st-1": StudentIn(name="Иванов Иван", class_id="5a")},
        subjects={"math": SubjectIn(name="Математика")},
        teachers={
            "t-1": TeacherIn(
                name="Петрова Анна Сергеевна",
                assignments=(AssignmentIn(class_id="5a", subject_id="math"),),
            )
        },
    )


def with_colleague(book: ReferenceBook) -> ReferenceBook:
    """`book` with t-3, who teaches the same class and subject as t-1."""
    book.teachers["t-3"] = TeacherIn(
        name="Сидорова Мария Ивановна",
        assignments=(AssignmentIn(class_id="5a", subject_id="math"),),
    )
    return book


def a_lesson_change(**changes: object) -> LessonChangePostedPayload:
    """The payload of a LessonChangePosted: 5А's English group 1, a substitution."""
    return LessonChangePostedPayload(**{**SUBSTITUTION, **changes})


def a_student_changed(student_id: str, class_id: str, name: str | None = None) -> StudentChanged:
    """A StudentChanged: which class a student is in (consent's and digest's rosters)."""
    return StudentChanged.new(
        StudentChangedPayload(
            school_id="school-1",
            student_id=student_id,
            name=name or f"Ученик {student_id}",
            class_id=class_id,
            class_name={"5a": "5А", "6b": "6Б"}.get(class_id, class_id),
            education_level="basic",
        ),
        producer="grades",
    )


def an_email_request(mark_id: str = "m-1", address: str | None = None) -> NotificationRequested:
    """The e-mail request consent makes for a mark to `CONSENTING`'s recipient."""
    event = MarkPosted.new(a_mark_posted(school_id="school-1", mark_id=mark_id), producer="test")
    requests, _ = notification_requests(event, [CONSENTING], datetime.now(UTC))
    request = next(r for r in requests if r.payload.channel == "email")
    if address is None:
        return request
    return request.model_copy(
        update={"payload": request.payload.model_copy(update={"address": address})}
    )
