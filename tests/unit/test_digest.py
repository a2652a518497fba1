"""The weekly digest's rules: when it is due, what a week holds, how it reads in Russian."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas import NotificationRequested
from schemas.digest import WeekFinalMark
from schemas.notify import NotificationRequestedPayload
from services.digest.domain import (
    Absence,
    FinalMark,
    Period,
    Schedule,
    StudentBook,
    compile_week,
    iso_week,
    week_bounds,
)
from services.digest.forecast import ForecastRules, Mark
from services.notifier.rendering import create_environment, render_email, render_sms
from services.shared.russian import final_text, ru_decimal

MOSCOW = ZoneInfo("Europe/Moscow")
Q2 = Period("q2", "2 четверть", date(2026, 11, 9), date(2026, 12, 28))
YEAR = Period("y", "2026/2027 учебный год", date(2026, 9, 1), date(2027, 5, 31))


def test_the_run_is_due_at_the_last_friday_16_00_in_the_school_s_zone() -> None:
    schedule = Schedule(weekday=4, at=time(16, 0))
    friday_1559 = datetime(2026, 11, 27, 15, 59, tzinfo=MOSCOW)
    friday_1600 = datetime(2026, 11, 27, 16, 0, tzinfo=MOSCOW)
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=MOSCOW)
    assert schedule.last_due(friday_1559, MOSCOW) == datetime(2026, 11, 20, 16, 0, tzinfo=MOSCOW)
    assert schedule.last_due(friday_1600, MOSCOW) == friday_1600
    assert schedule.last_due(monday, MOSCOW) == friday_1600  # missed while down: still due
    # 13:30 UTC is 16:30 in Moscow but 18:30 in Yekaterinburg: both past 16:00 there.
    in_utc = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
    assert schedule.last_due(in_utc, ZoneInfo("Asia/Yekaterinburg")).day == 27


def test_a_school_s_first_run_is_at_its_first_scheduled_time_after_registration() -> None:
    schedule = Schedule(weekday=4, at=time(16, 0))
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=MOSCOW)
    friday_1600 = datetime(2026, 11, 27, 16, 0, tzinfo=MOSCOW)
    assert schedule.week_due(monday, MOSCOW, friday_1600) == "2026-W48"
    # Registered on Saturday, while its students were still being loaded: nothing until the
    # next Friday, not a partial digest of a week that was over.
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=MOSCOW)
    assert schedule.week_due(monday, MOSCOW, saturday) is None
    assert schedule.week_due(monday + timedelta(days=4, hours=7), MOSCOW, saturday) == "2026-W49"
    assert schedule.week_due(monday, MOSCOW, None) is None  # never registered by the journal


def test_weeks_are_iso_weeks() -> None:
    assert iso_week(date(2026, 11, 27)) == "2026-W48"
    assert week_bounds("2026-W48") == (date(2026, 11, 23), date(2026, 11, 29))
    assert week_bounds("2027-W01") == (date(2027, 1, 4), date(2027, 1, 10))


def a_book() -> StudentBook:
    def mark(mark_id: str, day: int, value: str, subject: str = "Математика") -> Mark:
        subject_id = "math" if subject == "Математика" else "rus"
        return Mark(mark_id, subject_id, subject, date(2026, 11, day), value, "ответ", 1.0)

    return StudentBook(
        school_id="school-1",
        student_id="st-1",
        name="Иванов Иван",
        class_id="5a",
        class_name="5А",
        marks=[
            mark("m1", 10, "3"),
            mark("m2", 17, "4"),
            mark("m3", 24, "5"),
            mark("m4", 25, "5"),
            mark("m5", 26, "4", "Русский язык"),
            mark("old", 2, "2"),
        ],  # before the quarter: not in the forecast
        comments={"m3": "Молодец!"},
        absences=[
            Absence(date(2026, 11, 26), "Физика", "болезнь"),
            Absence(date(2026, 11, 19), "Физика", "болезнь"),
        ],
        final_marks=[
            FinalMark("История", "1 четверть", date(2026, 11, 24), deferred_until=date(2027, 1, 15))
        ],
    )


def test_a_week_holds_its_marks_absences_and_final_marks_and_the_period_forecast() -> None:
    digest = compile_week(a_book(), "2026-W48", rules=ForecastRules(), periods=[YEAR, Q2])
    assert (digest.week_start, digest.week_end, digest.period_name) == (
        date(2026, 11, 23),
        date(2026, 11, 29),
        "2 четверть",
    )  # the quarter, not the year it nests in
    math, russian = digest.subjects
    assert [m.value for m in math.marks] == ["5", "5"]
    assert math.marks[0].comment == "Молодец!"
    assert math.forecast is not None
    assert (math.forecast.mean, math.forecast.projected, math.forecast.trend) == (4.25, 4, "up")
    assert russian.forecast is not None and russian.forecast.too_few
    assert [a.lesson_date for a in digest.absences] == [date(2026, 11, 26)]
    [final] = digest.final_marks
    assert final_text(final) == "отсрочка до 15.01"


def test_a_school_s_thresholds_change_the_forecast() -> None:
    strict = ForecastRules(five_from=4.65, min_marks=1)
    lenient = ForecastRules(four_from=3.2, min_marks=1)
    book = a_book()
    [strict_math, _] = compile_week(book, "2026-W48", rules=strict, periods=[Q2]).subjects
    [lenient_math, _] = compile_week(book, "2026-W48", rules=lenient, periods=[Q2]).subjects
    assert strict_math.forecast and strict_math.forecast.projected == 4
    assert lenient_math.forecast and lenient_math.forecast.projected == 4
    assert ru_decimal(4.25) == "4,25"
    assert final_text(WeekFinalMark(subject_name="a", period_name="b", value="н/а")) == (
        "не аттестован(а)"
    )


def test_the_weekly_email_is_a_russian_table_and_the_sms_is_short() -> None:
    digest = compile_week(a_book(), "2026-W48", rules=ForecastRules(), periods=[Q2])
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
            content=digest,
        ),
        producer="consent",
    )
    env = create_environment()
    email = render_email(env, request)
    assert email.subject == "Итоги недели 23.11–29.11: Иванов Иван, 5А"
    assert "Математика: 5, 5." in email.text
    assert "Средний балл 4,25; прогноз 4, растёт." in email.text
    assert "Русский язык: 4." in email.text and "мало оценок" in email.text
    assert "отсрочка до 15.01" in email.text
    assert "<table" in email.html and "Молодец!" in email.html
    text, segments = render_sms(env, request)
    assert text.startswith("Иванов Иван, итоги недели: Математика 5,5; Русский язык 4.")
    assert segments <= 2
