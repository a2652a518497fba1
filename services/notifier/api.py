"""The notifier's HTTP API (`/v1/schools/{school_id}/…`): deliveries for staff, the inbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BeforeValidator

from schemas.notify import Channel
from services.notifier.domain import Status
from services.notifier.store import MongoDeadlineMisses, MongoDeliveries, MongoInbox
from services.shared.auth import Principal, Role, require
from services.shared.errors import error_responses
from services.shared.http import ID_PATTERN, RecordId
from services.shared.pages import Cursor, Limit, Page

STAFF: tuple[Role, ...] = ("admin", "staff")

# An ISO 8601 date, or date and time with an optional offset (UTC without one). Pydantic alone
# would also take a number as seconds since 1970: `?until=0.5` was a date in January 1970.
ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def _iso_only(value: object) -> object:
    if isinstance(value, str) and not ISO_DATETIME.match(value):
        raise ValueError("an ISO 8601 date or date and time, e.g. 2026-11-30T08:00:00+03:00")
    return value


def _utc_if_naive(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_utc_if_naive)]
# A person's id as a filter: the same ids as in paths.
IdFilter = Annotated[str | None, Query(min_length=1, max_length=100, pattern=ID_PATTERN)]


def notifier_router(
    deliveries: MongoDeliveries, inbox: MongoInbox, misses: MongoDeadlineMisses, *, principal: Any
) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["deliveries"])

    @router.get(
        "/deliveries",
        summary="Deliveries by student, recipient, status or channel",
        responses=error_responses(403),
    )
    async def list_deliveries(
        school_id: RecordId,
        student_id: IdFilter = None,
        recipient_id: IdFilter = None,
        status: Annotated[Status | None, Query()] = None,
        channel: Annotated[Channel | None, Query()] = None,
        since: Annotated[
            IsoDateTime | None, Query(description="Queued at or after (ISO 8601; UTC if no offset)")
        ] = None,
        until: Annotated[
            IsoDateTime | None, Query(description="Queued before (ISO 8601; UTC if no offset)")
        ] = None,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[dict[str, Any]]:
        """For staff: what was sent to whom, what failed and why, newest first. Addresses are
        not shown."""
        require(caller, school_id, STAFF)
        filters: dict[str, Any] = {
            "student_id": student_id,
            "recipient_id": recipient_id,
            "status": status,
            "channel": channel,
        }
        period = {key: value for key, value in (("$gte", since), ("$lt", until)) if value}
        if period:
            filters["queued_at"] = period
        items, next_cursor = await deliveries.search(school_id, filters, limit=limit, after=cursor)
        return Page(items=items, next_cursor=next_cursor)

    @router.get(
        "/deadline-misses",
        summary="Who was not told within 24 hours",
        responses=error_responses(403),
    )
    async def deadline_misses(
        school_id: RecordId,
        limit: Limit = 100,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[dict[str, Any]]:
        """Clause 9: final marks and exam results reach parents within 24 hours. These did not,
        on any channel: staff inform them by other means (a call, a letter)."""
        require(caller, school_id, STAFF)
        items, next_cursor = await misses.of_school(school_id, limit=limit, after=cursor)
        return Page(items=items, next_cursor=next_cursor)

    @router.get(
        "/recipients/{recipient_id}/inbox",
        summary="The personal account's messages",
        responses=error_responses(403),
    )
    async def read_inbox(
        school_id: RecordId,
        recipient_id: RecordId,
        limit: Limit = 50,
        cursor: Cursor = None,
        caller: Principal = principal,
    ) -> Page[dict[str, Any]]:
        """Newest first."""
        require(caller, school_id, STAFF, or_parent=recipient_id)
        items, next_cursor = await inbox.messages(
            school_id, recipient_id, limit=limit, after=cursor
        )
        return Page(items=items, next_cursor=next_cursor)

    return router
