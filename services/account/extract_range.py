"""The date range of a PDF extract (issue 14, item 2): what the form offers and what it accepts.

Pure rules, no I/O: the page (`extract_pages.py`) asks them, the digest renders the PDF.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from services.account.preferences import FormError

# Journals hold nothing older and a date field lets one type a year like 0001 or 20261: such a
# date is a slip of the keyboard, said so here rather than by the digest.
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
FIELDS = {"from": "С", "to": "По"}
# What a date field sends; `date.fromisoformat` would also take `20261201` or `2026-W49-1`.
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class ExtractRange:
    first: date
    last: date


def school_year_start(today: date) -> date:
    """1 September of the school year under way (in summer: the one that has just ended)."""
    return date(today.year if today.month >= 9 else today.year - 1, 9, 1)


def default_range(today: date) -> ExtractRange:
    """What the form offers: the school year so far."""
    return ExtractRange(school_year_start(today), today)


def asked(query: Mapping[str, str]) -> bool:
    """Whether the form was sent (either date in the query): then both must be valid."""
    return any(name in query for name in FIELDS)


def parse_range(query: Mapping[str, str]) -> ExtractRange | FormError:
    """The range the form asks for, or the error of the first field that is wrong
    (`from`, then `to`; `to` also when it is before `from`)."""
    days: dict[str, date] = {}
    for name, label in FIELDS.items():
        typed = query.get(name, "").strip()
        if not typed:
            return FormError(name, f"Укажите дату в поле «{label}».")
        try:
            if not ISO_DAY.fullmatch(typed):
                raise ValueError(typed)
            day = date.fromisoformat(typed)
        except ValueError:
            return FormError(name, f"В поле «{label}» не дата: выберите день в календаре.")
        if not EARLIEST <= day <= LATEST:
            return FormError(
                name,
                f"Дата в поле «{label}» должна быть между {EARLIEST:%d.%m.%Y} и {LATEST:%d.%m.%Y}.",
            )
        days[name] = day
    if days["to"] < days["from"]:
        return FormError("to", "Дата в поле «По» не может быть раньше даты в поле «С».")
    return ExtractRange(days["from"], days["to"])
