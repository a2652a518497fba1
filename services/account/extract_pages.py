"""A child's "Выписка" section (issue 14, item 2): a form with two dates, and the digest's PDF
for them as a download. The account renders no PDF itself: the digest does (clause 4).

Called by the family pages (`family_usecases.FamilyPages`) for a child the session may see;
the digest checks again that the child is the signed-in person's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from services.account.extract_range import (
    EARLIEST,
    LATEST,
    asked,
    default_range,
    parse_range,
)
from services.account.extracts import DigestUnavailableError
from services.account.preferences import FormError
from services.account.views import Child, FamilyFile, Viewer

UNAVAILABLE = "Выписка сейчас недоступна. Попробуйте через несколько минут."
NO_DATA = "Данных для выписки пока нет: они появятся, когда школа внесёт в журнал первые записи."
TYPED_MAX = 20  # what the form echoes back of a field it refused


class ExtractSource(Protocol):
    async def extract(
        self, school_id: str, student_id: str, recipient_id: str, first: date, last: date
    ) -> bytes | None:
        """The PDF; None when there is nothing to extract for the student yet.
        DigestUnavailableError when it cannot be had now."""
        ...


@dataclass(frozen=True)
class ExtractForm:
    """The form, as typed or as offered; the field it refuses, or why there is no PDF."""

    first: str
    last: str
    earliest: str = EARLIEST.isoformat()
    latest: str = LATEST.isoformat()
    error: FormError | None = None
    message: str | None = None
    status: int = 200


async def extract(
    source: ExtractSource | None,
    viewer: Viewer,
    child: Child,
    query: Mapping[str, str],
    *,
    today: date,
) -> ExtractForm | FamilyFile | None:
    """The form (with the school year so far) until dates are sent; then the PDF, or the form
    again saying what is wrong (422), that the digest is away (503; always without a
    `source`) or has nothing yet (404). None: no identity of the viewer in the child's school
    to ask with (a 404)."""
    recipient = viewer.recipient_in(child.school_id)
    if recipient is None:
        return None
    if not asked(query):
        offered = default_range(today)
        return ExtractForm(offered.first.isoformat(), offered.last.isoformat())
    typed = ExtractForm(query.get("from", "")[:TYPED_MAX], query.get("to", "")[:TYPED_MAX])
    chosen = parse_range(query)
    if isinstance(chosen, FormError):
        return ExtractForm(typed.first, typed.last, error=chosen, status=422)
    try:
        if source is None:
            raise DigestUnavailableError("no digest wired")
        pdf = await source.extract(
            child.school_id, child.student_id, recipient, chosen.first, chosen.last
        )
    except DigestUnavailableError:
        return ExtractForm(typed.first, typed.last, message=UNAVAILABLE, status=503)
    if pdf is None:
        return ExtractForm(typed.first, typed.last, message=NO_DATA, status=404)
    return FamilyFile(pdf, "application/pdf", filename(child, chosen.first, chosen.last))


def filename(child: Child, first: date, last: date) -> str:
    """ASCII only, and nothing that could end the header's quoted string."""
    student = re.sub(r"[^A-Za-z0-9_.-]+", "_", child.student_id)
    return f"extract-{student}-{first.isoformat()}-{last.isoformat()}.pdf"
