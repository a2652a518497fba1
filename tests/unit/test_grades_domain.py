"""The journal's rules: duplicates, corrections, retractions, references, a teacher's reach."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import FinalMarkDeferred, FinalMarkPosted, MarkCorrected, MarkPosted, MarkRetracted
from services.grades.domain import Decision, Stored, decide, teacher_may_record
from services.grades.facts import ReferenceBook
from services.grades.items import (
    ClassIn,
    JournalItem,
    PeriodIn,
    SchoolIn,
    StudentIn,
    SubjectIn,
    TeacherIn,
    parse_item,
)
from tests.builders import a_book, with_colleague

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OBTAINED = "2026-12-26T14:00:00+03:00"


def item(**fields: Any) -> JournalItem:
    parsed = parse_item(fields)
    assert not isinstance(parsed, list), parsed
    return parsed


def raw_mark(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "mark",
        "mark_id": "m-1",
        "student_id": "st-1",
        "subject_id": "math",
        "teacher_id": "t-1",
        "lesson_date": "2026-11-27",
        "value": "4",
        "work_type": "самостоятельная работа",
        **changes,
    }


def raw_final(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "final_mark",
        "final_mark_id": "f-1",
        "student_id": "st-1",
        "subject_id": "math",
        "period_id": "q2",
        "obtained_at": OBTAINED,
        **changes,
    }


def mark(**changes: Any) -> JournalItem:
    return item(**raw_mark(**changes))


def final(**changes: Any) -> JournalItem:
    return item(**raw_final(**changes))


def run(
    entry: JournalItem, stored: Stored | None = None, book: ReferenceBook | None = None
) -> Decision:
    return decide(
        entry, stored, book or a_book(), school_id="s1", now=NOW, correlation_id=uuid.uuid4()
    )


def test_a_new_mark_is_posted_with_every_name_a_notification_needs() -> None:
    decision = run(mark())
    assert decision.outcome == "accepted"
    [event] = decision.events
    assert isinstance(event, MarkPosted)
    payload = event.payload
    assert (payload.student_name, payload.class_name) == ("Иванов Иван", "5А")
    assert (payload.subject_name, payload.teacher_name) == ("Математика", "Петрова Анна Сергеевна")
    assert event.key == b"st-1"


def test_the_same_mark_again_is_a_duplicate() -> None:
    first = run(mark())
    again = run(mark(), first.new_state)
    assert (again.outcome, again.events, again.new_state) == ("duplicate", (), None)


def test_new_content_under_a_known_id_is_a_correction_naming_the_old_value() -> None:
    first = run(mark(value="4"))
    corrected = run(mark(value="5"), first.new_state)
    assert corrected.outcome == "corrected"
    [event] = corrected.events
    assert isinstance(event, MarkCorrected)
    assert (event.payload.previous_value, event.payload.value) == ("4", "5")
    assert corrected.new_state is not None and corrected.new_state.version == 2


def test_a_retraction_is_its_own_event_and_happens_once() -> None:
    posted = run(mark()).new_state
    retraction = item(kind="mark_retraction", mark_id="m-1", reason="ошибочно")
    retracted = run(retraction, posted)
    assert retracted.outcome == "retracted"
    [event] = retracted.events
    assert isinstance(event, MarkRetracted)
    assert (event.payload.value, event.payload.reason) == ("4", "ошибочно")
    assert run(retraction, retracted.new_state).outcome == "duplicate"
    # Sent again after its retraction, the mark is posted anew.
    assert run(mark(), retracted.new_state).events[0].type == "MarkPosted"


def test_retracting_an_unknown_mark_is_rejected() -> None:
    decision = run(item(kind="mark_retraction", mark_id="ghost"))
    assert decision.outcome == "rejected"
    assert decision.errors[0].field == "mark_id"


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (mark(student_id="nobody"), "student_id"),
        (mark(subject_id="latin"), "subject_id"),
        (mark(teacher_id="t-9"), "teacher_id"),
        (
            item(
                kind="absence",
                absence_id="a-1",
                student_id="st-1",
                subject_id="math",
                lesson_date="2026-11-27",
                code="XYZ",
            ),
            "code",
        ),
        (final(period_id="q9", value="5"), "period_id"),
        (final(deferred_until="2026-12-01"), "deferred_until"),
    ],
)
def test_items_that_do_not_fit_the_school_name_their_field(entry: JournalItem, field: str) -> None:
    decision = run(entry)
    assert decision.outcome == "rejected"
    assert [error.field for error in decision.errors] == [field]
    assert decision.events == ()


def test_the_mark_scale_is_a_school_setting() -> None:
    pass_fail_only = a_book(mark_values=("зачёт", "незачёт"))
    assert run(mark(value="5"), book=pass_fail_only).errors[0].field == "value"
    assert run(mark(value="зачёт"), book=pass_fail_only).outcome == "accepted"


def test_absence_codes_come_from_the_school() -> None:
    absence = item(
        kind="absence",
        absence_id="a-1",
        student_id="st-1",
        subject_id="math",
        lesson_date="2026-11-27",
        code="Б",
    )
    [event] = run(absence).events
    assert event.payload.code_label == "болезнь"


def test_a_deferred_final_mark_and_its_later_value_carry_when_obtained() -> None:
    deferred = run(final(deferred_until="2027-01-20"))
    [first] = deferred.events
    assert isinstance(first, FinalMarkDeferred)
    assert first.payload.deferred_until == date(2027, 1, 20)
    later = run(final(value="4", obtained_at="2027-01-18T10:00:00+03:00"), deferred.new_state)
    [second] = later.events
    assert isinstance(second, FinalMarkPosted)
    assert second.payload.value == "4"
    assert second.payload.previous_value is None
    assert second.payload.obtained_at.isoformat() == "2027-01-18T10:00:00+03:00"
    assert second.payload.period_name == "2 четверть"


def test_a_final_mark_is_either_a_value_or_deferred() -> None:
    both = parse_item(raw_final(value="5", deferred_until="2027-01-20"))
    assert isinstance(both, list) and both[0].field == "value"


def test_a_teacher_records_only_their_own_classes_subjects_and_marks() -> None:
    book = a_book()
    book.students["st-9"] = StudentIn(name="Чужой Ученик", class_id="6b")
    book.teachers["t-2"] = TeacherIn(name="Другой Учитель")
    assert teacher_may_record("t-1", mark(), None, book)
    assert not teacher_may_record("t-1", mark(student_id="st-9"), None, book)
    assert not teacher_may_record("t-1", mark(teacher_id="t-2"), None, book)
    assert not teacher_may_record("t-2", mark(teacher_id="t-2"), None, book)
    assert not teacher_may_record("t-1", mark(student_id="nobody"), None, book)


def test_a_record_never_moves_to_another_student() -> None:
    book = a_book()
    book.students["st-2"] = StudentIn(name="Смирнова Ольга", class_id="5a")
    posted = run(mark(), book=book).new_state
    moved = run(mark(student_id="st-2"), posted, book=book)
    assert moved.outcome == "rejected"
    assert [error.field for error in moved.errors] == ["student_id"]
    assert moved.events == ()
    # Not even after a retraction: the id stays the first student's.
    retracted = run(item(kind="mark_retraction", mark_id="m-1"), posted, book=book).new_state
    assert run(mark(student_id="st-2"), retracted, book=book).errors[0].field == "student_id"
    deferred = run(final(deferred_until="2027-01-20"), book=book).new_state
    assert run(final(student_id="st-2", value="5"), deferred, book=book).outcome == "rejected"


def test_a_teacher_corrects_or_retracts_only_their_own_records() -> None:
    book = with_colleague(a_book())
    theirs = run(mark(), book=book).new_state  # recorded by t-1
    assert theirs is not None
    assert teacher_may_record("t-1", mark(value="5"), theirs, book)
    assert not teacher_may_record("t-3", mark(teacher_id="t-3", value="2"), theirs, book)
    retraction = item(kind="mark_retraction", mark_id="m-1")
    assert teacher_may_record("t-1", retraction, theirs, book)
    assert not teacher_may_record("t-3", retraction, theirs, book)
    # A record of a class or subject the teacher does not teach, whatever the new content says.
    elsewhere = Stored({**theirs.state, "subject_id": "russian"}, version=1)
    book.subjects["russian"] = SubjectIn(name="Русский язык")
    assert not teacher_may_record("t-1", mark(value="5"), elsewhere, book)


def test_every_fact_carries_its_records_version_after_the_change() -> None:
    """Consumers apply a record's events by version, so a late older one cannot win."""
    posted = run(mark(value="4"))
    corrected = run(mark(value="5"), posted.new_state)
    retraction = item(kind="mark_retraction", mark_id="m-1")
    retracted = run(retraction, corrected.new_state)
    reposted = run(mark(value="3"), retracted.new_state)
    decisions = (posted, corrected, retracted, reposted)
    assert [d.events[0].payload.record_version for d in decisions] == [1, 2, 3, 4]
    assert [d.new_state.version for d in decisions if d.new_state] == [1, 2, 3, 4]
    assert run(final(value="5")).events[0].payload.record_version == 1


PERIOD = {
    "name": "2 четверть",
    "period_kind": "quarter",
    "school_year": "2026/2027",
    "starts_on": "2026-11-05",
    "ends_on": "2026-12-28",
}


@pytest.mark.parametrize(
    ("model", "fields", "field"),
    [
        (PeriodIn, {**PERIOD, "ends_on": "2026-11-04"}, "ends_on"),
        (PeriodIn, {**PERIOD, "school_year": "2026/2030"}, "school_year"),
        (PeriodIn, {**PERIOD, "starts_on": "0001-01-01"}, "starts_on"),
        (SchoolIn, {"name": "Школа", "timezone": "Mars/Olympus"}, "timezone"),
        (SchoolIn, {"name": "Школа", "absence_codes": {"Н.б": "нет"}}, "absence_codes"),
        (SchoolIn, {"name": "Школа", "absence_codes": {"$Н": "нет"}}, "absence_codes"),
        (SubjectIn, {"name": "Мате\x00матика"}, "name"),
    ],
)
def test_reference_data_that_cannot_be_right_is_refused_naming_its_field(
    model: type[Any], fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(fields)
    assert field in {str(error["loc"][0]) for error in refused.value.errors()}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (raw_mark(lesson_date="0001-01-01"), "lesson_date"),
        (raw_mark(lesson_date="9999-12-31"), "lesson_date"),
        (raw_mark(comment="ok\x00"), "comment"),
        (raw_mark(work_type="\x00"), "work_type"),
        # Its 24-hour deadline would not fit in a datetime downstream.
        (raw_final(value="5", obtained_at="9999-12-31T23:59:59-12:00"), "obtained_at"),
    ],
)
def test_items_that_cannot_be_right_are_rejected_naming_the_field(
    raw: dict[str, Any], field: str
) -> None:
    rejected = parse_item(raw)
    assert isinstance(rejected, list)
    assert [error.field for error in rejected] == [field]


@pytest.mark.parametrize(
    ("model", "fields", "field"),
    [
        (SchoolIn, {"name": "Ш" * 301}, "name"),
        (SchoolIn, {"name": "Школа", "timezone": "E" * 65}, "timezone"),
        (
            SchoolIn,
            {"name": "Школа", "absence_codes": {f"К{n}": "код" for n in range(31)}},
            "absence_codes",
        ),
        (SchoolIn, {"name": "Школа", "absence_codes": {"Н": "н" * 101}}, "absence_codes"),
        (SchoolIn, {"name": "Школа", "mark_values": ["5"] * 9}, "mark_values"),
        (PeriodIn, {**PERIOD, "name": "ч" * 101}, "name"),
        (ClassIn, {"name": "5" * 51, "education_level": "basic"}, "name"),
        (StudentIn, {"name": "И" * 301, "class_id": "5a"}, "name"),
        (SubjectIn, {"name": "М" * 201}, "name"),
        (TeacherIn, {"name": "П" * 301}, "name"),
        (
            TeacherIn,
            {
                "name": "П",
                "assignments": [{"class_id": "5a", "subject_id": f"s{n}"} for n in range(501)],
            },
            "assignments",
        ),
    ],
)
def test_every_string_and_list_of_reference_data_has_a_maximum(
    model: type[Any], fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(fields)
    assert field in {str(error["loc"][0]) for error in refused.value.errors()}
