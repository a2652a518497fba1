"""The notifier's HTTP API (`/v1/schools/{school_id}/…`): deliveries for staff, the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.notifier.domain import Status
from services.notifier.store import MongoDeadlineMisses, MongoDeliveries, MongoInbox
from services.shared.auth import Principal, Role, require
from services.shared.http import RecordId

STAFF: tuple[Role, ...] = ("admin", "staff")


def notifier_router(
    deliveries: MongoDeliveries, inbox: MongoInbox, misses: MongoDeadlineMisses, *, principal: Any
) -> APIRouter:
    router = APIRouter(prefix="/v1/schools/{school_id}", tags=["deliveries"])

    @router.get("/deliveries", summary="Deliveries by student, recipient, status or channel")
    async def list_deliveries(
        school_id: RecordId,
        student_id: Annotated[str | None, Query()] = None,
        recipient_id: Annotated[str | None, Query()] = None,
        status: Annotated[Status | None, Query()] = None,
        channel: Annotated[str | None, Query()] = None,
        since: Annotated[datetime | None, Query(description="Queued at or after")] = None,
        until: Annotated[datetime | None, Query(description="Queued before")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        caller: Principal = principal,
    ) -> list[dict[str, Any]]:
        """For staff: what was sent to whom, what failed and why. Addresses are not shown."""
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
        return await deliveries.search(school_id, filters, limit)

    @router.get("/deadline-misses", summary="Who was not told within 24 hours")
    async def deadline_misses(
        school_id: RecordId, caller: Principal = principal
    ) -> list[dict[str, Any]]:
        """Clause 9: final marks and exam results reach parents within 24 hours. These did not,
        on any channel: staff inform them by other means (a call, a letter)."""
        require(caller, school_id, STAFF)
        return await misses.of_school(school_id)

    @router.get("/recipients/{recipient_id}/inbox", summary="The personal account's messages")
    async def read_inbox(
        school_id: RecordId, recipient_id: RecordId, caller: Principal = principal
    ) -> list[dict[str, Any]]:
        require(caller, school_id, STAFF, or_parent=recipient_id)
        return await inbox.messages(school_id, recipient_id)

    return router
