"""A student's school week (clause 4, issue 13): the timetable of their class and groups with
the day's changes applied, A/B weeks, individual curricula, holidays; the class's teachers;
and the weekly digest's sections, in the e-mail and on the paper page."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any

from schemas.digest import WeeklyDigestPayload
from schemas.journal import StudentChangedPayload, TeacherChangedPayload
from schemas.notify import NotificationRequested, NotificationRequestedPayload
from schemas.schoolweek import (
    ClassBook,
    DayOut,
    Pupil,
    SchoolFacts,
    Teacher,
    class_teachers,
    digest_sections,
    student_week,
    week_parity,
)
from services.digest.handlers import week_record
from services.digest.paper import class_printout
from services.digest.paper import create_environment as paper_templates
from services.digest.week_store import newest
from services.notifier.rendering import create_environment, render_email
from tests.school_week import MONDAY, SCHOOL, STUDENTS, WEEK, day, pdf_pages, reference, term


def facts() -> tuple[dict[str, ClassBook], SchoolFacts]:
    """The term as the store would hand it over: live facts only (the latest version of each
    record, without removed, retracted or cancelled ones)."""
    records = [week_record(event) for event in term()]
    live = [r for r in newest(records) if not r.gone]

    def of(collection: str, class_id: str | None = None) -> list[Any]:
        return [
            r.fact
            for r in live
            if r.collection == collection and (class_id is None or r.class_id == class_id)
        ]

    books = {
        class_id: ClassBook(
            class_id=class_id,
            student_ids=frozenset(s for s, (c, _) in STUDENTS.items() if c == class_id),
            groups=of("groups", class_id),
            curricula=of("curricula", class_id),
            lessons=of("timetable_lessons", class_id),
            changes=of("lesson_changes", class_id),
            assessments=of("assessments", class_id),
            homework=of("homework", class_id),
        )
        for class_id in ("5a", "1a")
    }
    teachers = [
        Teacher(p.teacher_id, p.name, frozenset((a.class_id, a.subject_id) for a in p.assignments))
        for e in reference()
        if isinstance(p := e.payload, TeacherChangedPayload)
    ]
    school = SchoolFacts(of("calendars"), of("bell_schedules"), teachers)
    return books, school


def pupil(student_id: str) -> Pupil:
    [p] = [
        e.payload
        for e in reference()
        if isinstance(e.payload, StudentChangedPayload) and e.payload.student_id == student_id
    ]
    return Pupil(p.student_id, p.name, p.class_id, p.class_name, p.education_level)


def week_of(student_id: str) -> list[DayOut]:
    books, school = facts()
    who = pupil(student_id)
    return list(student_week(SCHOOL, who, books[who.class_id], school, WEEK, MONDAY).days)


def lessons(days: list[DayOut], n: int) -> list[tuple[int, str, str]]:
    return [(x.lesson_number, x.subject_name, x.status) for x in days[n].lessons]


def test_the_day_s_changes_are_applied_to_the_timetable_of_the_student_s_groups() -> None:
    days = week_of("st-1")
    assert lessons(days, 0) == [
        (1, "Математика", "substituted"),
        (2, "Английский язык", "cancelled"),
        (3, "Музыка", "moved_out"),
    ]
    monday = days[0].lessons
    assert monday[0].teacher_name == "Сидорова М. И." and monday[0].change is not None
    assert monday[0].change.what == "замена: ведёт Сидорова М. И."
    assert monday[0].change.reason == "болезнь учителя"
    assert (monday[0].starts_at, monday[0].ends_at) == (time(8, 30), time(9, 15))
    assert monday[1].group_name == "Английский, группа 1" and monday[1].room == "31"
    assert monday[2].change is not None
    assert monday[2].change.what == "перенос: 02.12, 4-й урок, кабинет актовый зал"
    assert lessons(days, 2) == [(4, "Музыка", "moved_in")]  # the Wednesday lesson taken out
    assert days[2].lessons[0].room == "актовый зал"
    assert lessons(days, 3) == [(5, "Математика", "extra")]
    # The other group's English is as timetabled, with its own teacher and room.
    other = week_of("st-2")[0].lessons
    assert [(x.subject_name, x.status, x.teacher_name, x.room) for x in other][1] == (
        "Английский язык",
        "planned",
        "Орлова Ольга Игоревна",
        "32",
    )


def test_an_individual_curriculum_leaves_out_its_missing_subjects_and_places_its_groups() -> None:
    days = week_of("st-3")
    assert lessons(days, 0) == [(1, "Математика", "substituted"), (2, "Английский язык", "planned")]
    assert days[0].lessons[1].group_id == "en-2"  # by the curriculum, not the group's list
    assert lessons(days, 2) == []  # music moved to Wednesday: not theirs
    assert [h.subject_name for h in days[0].homework_set] == ["Математика"]
    assert [t.subject_name for t in days[2].tests] == ["Математика"]


def test_a_b_weeks_follow_the_calendar_and_non_school_days_have_no_lessons() -> None:
    books, school = facts()
    assert week_parity(school.calendars, MONDAY) == "B"
    assert week_parity(school.calendars, day(7)) == "A"
    assert week_parity([], MONDAY) is None
    days = week_of("st-1")
    assert lessons(days, 1) == [(1, "Русский язык", "planned")]  # not the A week's math
    friday = days[4]
    assert friday.non_school is not None and friday.non_school.name == "Методический день"
    assert friday.lessons == ()
    assert all(x.subject_name != "Русский язык" for x in days[2].lessons)  # l-8 was removed
    # Without a calendar, both weeks' lessons are listed, each saying which week it is.
    bare = SchoolFacts((), school.bells, school.teachers)
    who = pupil("st-1")
    unknown = student_week(SCHOOL, who, books["5a"], bare, WEEK, MONDAY)
    assert unknown.week_parity is None
    assert [(x.subject_name, x.week) for x in unknown.days[1].lessons] == [
        ("Математика", "A"),
        ("Русский язык", "B"),
    ]


def test_homework_set_and_due_and_tests_fall_on_their_days() -> None:
    days = week_of("st-1")
    assert [h.text for h in days[0].homework_set] == [
        "Выучить слова урока 5",
        "№ 245, 247",
        "Послушать «Времена года»",
    ]
    assert [h.text for h in days[2].homework_due] == ["№ 245, 247"]
    assert [(t.subject_name, t.kind_label) for t in days[2].tests] == [
        ("Математика", "проверочная работа")
    ]
    assert week_of("st-2")[0].homework_set[0].subject_name == "Математика"  # no group 1 English


def test_first_graders_have_their_own_bells_and_holidays() -> None:
    books, school = facts()
    first = student_week(SCHOOL, pupil("st-4"), books["1a"], school, WEEK, MONDAY)
    [math] = first.days[0].lessons
    assert (math.starts_at, math.ends_at) == (time(8, 0), time(8, 35))
    sections = digest_sections(pupil("st-4"), books["1a"], school, monday=MONDAY, digest_day=day(4))
    assert [h.name for h in sections["next_holidays"]] == [  # type: ignore[attr-defined]
        "Зимние каникулы",
        "Дополнительные каникулы для первоклассников",
    ]
    fifth = digest_sections(pupil("st-1"), books["5a"], school, monday=MONDAY, digest_day=day(4))
    assert [h.name for h in fifth["next_holidays"]] == [  # type: ignore[attr-defined]
        "Зимние каникулы",
        "Весенние каникулы",
    ]


def test_the_class_s_teachers_by_subject_and_group() -> None:
    books, school = facts()
    assert [
        (t.subject_name, t.group_name, t.teacher_names) for t in class_teachers(books["5a"], school)
    ] == [
        ("Английский язык", None, ("Орлова Ольга Игоревна", "Смит Джон")),
        ("Английский язык", "Английский, группа 1", ("Смит Джон",)),
        ("Английский язык", "Английский, группа 2", ("Орлова Ольга Игоревна",)),
        ("Математика", None, ("Петрова Анна Сергеевна",)),
        ("Музыка", None, ("Глинка Михаил Иванович",)),
        ("Русский язык", None, ("Петрова Анна Сергеевна",)),
    ]
    assert [t.subject_name for t in class_teachers(books["1a"], school)] == ["Математика"]


def sections_of(student_id: str) -> dict[str, Any]:
    books, school = facts()
    who = pupil(student_id)
    return digest_sections(who, books[who.class_id], school, monday=MONDAY, digest_day=day(4))


def test_the_digest_s_sections_are_the_student_s_own() -> None:
    first, third = sections_of("st-1"), sections_of("st-3")
    assert [
        (t.assessment_date, t.subject_name, t.kind_label) for t in first["next_week_tests"]
    ] == [
        (date(2026, 12, 8), "Математика", "контрольная работа"),
        (date(2026, 12, 11), "Русский язык", "контрольная работа"),
    ]
    assert [(t.subject_name, t.kind_label) for t in third["next_week_tests"]] == [
        ("Математика", "контрольная работа"),
        ("Английский язык", "ВПР"),
        ("Русский язык", "контрольная работа"),
    ]
    assert [(h.due_on, h.subject_name) for h in first["homework_due"]] == [
        (date(2026, 12, 7), "Английский язык"),
        (date(2026, 12, 7), "Музыка"),
    ]
    assert third["homework_due"] == ()
    assert [(c.lesson_number, c.subject_name, c.what) for c in first["lesson_changes"]] == [
        (1, "Математика", "замена: ведёт Сидорова М. И."),
        (2, "Английский язык", "урок отменён"),
        (3, "Музыка", "перенос: 02.12, 4-й урок, кабинет актовый зал"),
        (5, "Математика", "дополнительный урок"),
    ]
    assert [c.subject_name for c in third["lesson_changes"]] == ["Математика", "Математика"]
    assert [(t.subject_name, t.group_name, t.teacher_names) for t in first["teachers"]] == [
        ("Английский язык", "Английский, группа 1", ("Смит Джон",)),
        ("Математика", None, ("Петрова Анна Сергеевна",)),
        ("Музыка", None, ("Глинка Михаил Иванович",)),
        ("Русский язык", None, ("Петрова Анна Сергеевна",)),
    ]
    assert [(t.subject_name, t.teacher_names) for t in third["teachers"]] == [
        ("Английский язык", ("Орлова Ольга Игоревна",)),
        ("Математика", ("Петрова Анна Сергеевна",)),
        ("Русский язык", ("Петрова Анна Сергеевна",)),
    ]


def a_digest(student_id: str = "st-1") -> WeeklyDigestPayload:
    who = pupil(student_id)
    return WeeklyDigestPayload(
        school_id=SCHOOL,
        student_id=student_id,
        student_name=who.name,
        class_name=who.class_name,
        week=WEEK,
        week_start=MONDAY,
        week_end=day(6),
        **sections_of(student_id),
    )


def test_the_weekly_email_has_the_new_sections_in_russian() -> None:
    request = NotificationRequested.new(
        NotificationRequestedPayload(
            student_id="st-1",
            dedupe_key="d:g-1:email",
            source_event_id="6f1c9a52-1f4e-4f8e-9b0c-0d6f4f3b7a11",
            recipient_id="g-1",
            recipient_name="Иванова Мария",
            channel="email",
            address="maria@example.org",
            category="weekly_digest",
            priority="normal",
            deadline=None,
            content=a_digest(),
        ),
        producer="consent",
    )
    email = render_email(create_environment(), request)
    for text in (email.text, email.html):
        assert "Изменения в расписании на этой неделе" in text
        assert "30.11, 1-й урок, Математика: замена: ведёт Сидорова М. И." in text
        assert "Контрольные и проверочные работы на следующей неделе" in text
        assert "08.12, Математика: Контрольная работа по теме «Дроби»" in text
        assert "Домашние задания к сдаче" in text and "Выучить слова урока 5" in text
        assert "Английский язык (Английский, группа 1): Смит Джон" in text
        assert "Зимние каникулы: с 29 декабря 2026 г. по 11 января 2027 г." in text


def test_the_paper_page_has_the_new_sections(tmp_path: Path) -> None:
    pdf = class_printout(paper_templates(), "Школа № 1", "5А", WEEK, [a_digest(), a_digest("st-3")])
    pages = pdf_pages(pdf, tmp_path)
    assert len(pages) == 2
    first, third = pages
    assert "Изменения в расписании на этой неделе:" in first
    assert "30.11, 2-й урок, Английский язык: урок отменён (причина: учитель на курсах)" in first
    assert "Контрольные и проверочные работы на следующей неделе:" in first
    assert "08.12, Математика: Контрольная работа по теме «Дроби»" in first
    assert "Домашние задания к сдаче:" in first
    assert "к 07.12, Английский язык: Выучить слова урока 5" in first
    assert "Учителя: Английский язык (Английский, группа 1) — Смит Джон" in first
    assert "Ближайшие каникулы: Зимние каникулы с 29 декабря 2026 г. по 11 января 2027 г." in first
    assert "09.12, Английский язык: ВПР" in third and "Домашние задания к сдаче" not in third
