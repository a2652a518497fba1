"""What a person may choose on the settings page, and how a submitted form becomes the consent
registry's preferences body. Pure: no I/O.

The inbox of the personal account is not switched off here (it is where the family is
reading); the sign-in codes (category `account`) are not a choice at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

# In the order the page lists them; each with the channels offered for it.
CHOICES: dict[str, tuple[str, ...]] = {
    "marks": ("email", "sms"),
    "attendance": ("email", "sms"),
    "final_results": ("email", "sms"),
    "forecast": ("email", "sms"),
    "lesson_changes": ("email", "sms"),
    "schedule": ("email", "sms"),
    "homework": ("email", "sms"),
    "recommendations": ("email", "sms"),
    "weekly_digest": ("email",),
}
# What the page calls them (Russian: families read it).
LABELS = {
    "marks": "Оценки",
    "attendance": "Пропуски уроков",
    "final_results": "Итоговые оценки и экзамены",
    "forecast": "Прогноз итоговой оценки",
    "lesson_changes": "Замены, переносы и отмены уроков",
    "schedule": "Расписание контрольных работ",
    "homework": "Домашние задания",
    "recommendations": "Рекомендации учителей",
    "weekly_digest": "Еженедельная сводка",
}
CHANNEL_LABELS = {"email": "Эл. почта", "sms": "SMS"}
PAPER_ONLY_DEFAULT_REASON = "заявлено в личном кабинете"


@dataclass(frozen=True)
class FormError:
    field: str
    message: str  # Russian: shown beside the form


def field_name(category: str, channel: str) -> str:
    return f"{category}.{channel}"


def preferences_body(
    form: Mapping[str, str], current: Mapping[str, list[str]]
) -> dict[str, Any] | FormError:
    """The registry's `PUT …/preferences` body from the form: a box ticked is a channel on; the
    channels the page does not offer (the inbox) stay as they are."""
    channels: dict[str, list[str]] = {}
    for category, offered in CHOICES.items():
        kept = [channel for channel in current.get(category, []) if channel not in offered]
        chosen = [channel for channel in offered if form.get(field_name(category, channel))]
        channels[category] = sorted({*kept, *chosen})
    quiet: dict[str, str] = {}
    for bound in ("start", "end"):
        typed = form.get(f"quiet_{bound}", "").strip()
        try:
            quiet[bound] = time.fromisoformat(typed).isoformat(timespec="minutes")
        except ValueError:
            return FormError(f"quiet_{bound}", "Укажите время в виде ЧЧ:ММ, например 21:00.")
    reason = form.get("paper_only_reason", "").strip()[:500]
    return {
        "channels": channels,
        "paper_only_reason": (reason or PAPER_ONLY_DEFAULT_REASON)
        if form.get("paper_only")
        else None,
        "sms_quiet_hours": quiet,
    }


def without_email(current: Mapping[str, Any], category: str) -> dict[str, Any]:
    """`current` (a whole preferences body) with e-mail off for `category`: a one-click
    unsubscribe from one kind of mailing, every other choice kept."""
    channels = current["channels"]
    return {
        **current,
        "channels": {
            **channels,
            category: [channel for channel in channels.get(category, []) if channel != "email"],
        },
    }
