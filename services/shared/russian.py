"""Russian wording shared by everything parents read: the e-mails, the paper pages, the extracts.

Kept in one place so an e-mail and the printout never say the same thing two ways.
"""

from __future__ import annotations

from datetime import date

from schemas.digest import Forecast, WeekFinalMark

_MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
_WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
_TREND = {"up": "растёт", "down": "снижается", "steady": "без изменений", "new": ""}


def ru_date(day: date) -> str:
    """28 ноября 2026 г."""
    return f"{day.day} {_MONTHS_GENITIVE[day.month - 1]} {day.year} г."


def ru_day(day: date) -> str:
    """вт, 1 декабря: a school day as a family reads it (the year goes without saying)."""
    return f"{_WEEKDAYS[day.weekday()]}, {day.day} {_MONTHS_GENITIVE[day.month - 1]}"


def forecast_text(forecast: Forecast) -> str:
    """«прогноз 5, растёт», or «мало оценок» below the school's minimum."""
    if forecast.too_few or forecast.projected is None:
        return "мало оценок"
    trend = _TREND[forecast.trend]
    return f"прогноз {forecast.projected}" + (f", {trend}" if trend else "")


def final_text(final: WeekFinalMark) -> str:
    """A final mark, or clause 8's deferral: «отсрочка до 15.01»."""
    if final.deferred_until is not None:
        return f"отсрочка до {final.deferred_until.strftime('%d.%m')}"
    return "не аттестован(а)" if final.value == "н/а" else f"«{final.value}»"


def ru_decimal(value: float) -> str:
    """4,67: a decimal comma, two places."""
    return f"{value:.2f}".replace(".", ",")


def assessment_label(kind_label: str, title: str | None) -> str:
    """«контрольная работа «Дроби»», but a title that already names its kind alone: journals
    often type «Контрольная работа «Дроби»» as the title."""
    if not title:
        return kind_label
    if title.casefold().startswith(kind_label.casefold()):
        return title
    return f"{kind_label} «{title}»"


FILTERS = {
    "assessment_label": assessment_label,
    "ru_date": ru_date,
    "ru_day": ru_day,
    "ru_decimal": ru_decimal,
    "forecast_text": forecast_text,
    "final_text": final_text,
}
