"""The notifier's records, written to and read back from the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from schemas import MarkPosted
from services.consent.domain import notification_requests
from services.digest.store import MongoDigestStore, mark_slot
from services.notifier.schedule import Pending
from services.notifier.store import (
    MongoConsentView,
    MongoDeliveries,
    MongoSchoolZones,
    Recorded,
    RetentionPeriods,
    retention_rules,
)
from services.shared.mongo import Document
from services.shared.pages import InvalidCursorError, find_page
from services.shared.retention import purge_expired
from tests.builders import CONSENTING, NOW, a_lesson_change, a_mark_posted


async def test_a_delivery_is_recorded_once_and_leaves_its_partition_s_queue_when_it_ends(
    database: AsyncDatabase[Document],
) -> None:
    deliveries = MongoDeliveries(database)
    await deliveries.ensure_indexes()
    requests, _ = notification_requests(
        MarkPosted.new(a_mark_posted(), producer="t"), [CONSENTING], NOW
    )
    email, inbox = (Pending(request, 1, 0, NOW) for request in requests[:2])

    assert await deliveries.insert_new([email, inbox, email], NOW) == [True, True, False]
    assert {p.key for p in await deliveries.open_in(1)} == {email.key, inbox.key}
    assert await deliveries.open_in(2) == []

    later = NOW + timedelta(seconds=30)
    await deliveries.record(
        [
            Recorded(email.key, "retry_wait", 1, NOW, due=later, reason="SMTP 451"),
            Recorded(inbox.key, "sent", 1, NOW, message_id="<id@vestnik.local>"),
        ]
    )
    [still_open] = await deliveries.open_in(1)
    assert (still_open.key, still_open.attempts, still_open.due) == (email.key, 1, later)
    assert still_open.status == "retry_wait" and still_open.request == email.request
    stored = await deliveries.find(inbox.key)
    assert stored is not None
    assert (stored["status"], stored["recipient_id"], "queue" in stored) == ("sent", "g-1", False)
    assert await deliveries.status_of([inbox.key, "unknown"]) == {inbox.key: "sent"}


async def test_the_consent_view_keeps_schools_apart(database: AsyncDatabase[Document]) -> None:
    view = MongoConsentView(database)
    await view.ensure_indexes()
    requests, _ = notification_requests(
        MarkPosted.new(a_mark_posted(), producer="t"), [CONSENTING], NOW
    )
    request = requests[0]
    school = request.payload.content.school_id
    await view.revoked("another-school", "g-1", "st-1", NOW)  # the same ids, elsewhere
    assert await view.refusals([request]) == {}
    await view.revoked(school, "g-1", "st-1", NOW)
    assert await view.refusals([request]) == {request.payload.dedupe_key: "consent revoked"}
    await view.granted(school, "g-1", "st-1", NOW + timedelta(minutes=1))
    assert await view.refusals([request]) == {}


async def test_a_family_s_notice_about_two_children_stops_when_either_consent_is_withdrawn(
    database: AsyncDatabase[Document],
) -> None:
    view = MongoConsentView(database)
    requests, _ = notification_requests(
        MarkPosted.new(a_mark_posted(), producer="t"), [CONSENTING], NOW
    )
    mark = requests[0]
    siblings = mark.model_copy(
        update={
            "payload": mark.payload.model_copy(
                update={
                    "dedupe_key": "lesson-change:g-1:email",
                    "content": a_lesson_change(),
                    "student_ids": ("st-1", "st-4"),
                }
            )
        }
    )
    school = siblings.payload.content.school_id
    assert await view.refusals([siblings]) == {}
    await view.revoked(school, "g-1", "st-4", NOW)
    assert await view.refusals([siblings, mark]) == {siblings.payload.dedupe_key: "consent revoked"}


async def test_a_school_s_time_zone_is_kept_with_a_default_until_known(
    database: AsyncDatabase[Document],
) -> None:
    zones = MongoSchoolZones(database, default=ZoneInfo("Europe/Moscow"))
    assert await zones.zone("school-1") == ZoneInfo("Europe/Moscow")
    await zones.save("school-1", "Asia/Yekaterinburg")
    await zones.save("school-2", "Not/AZone")
    assert await zones.zone("school-1") == ZoneInfo("Asia/Yekaterinburg")
    assert await zones.zone("school-2") == ZoneInfo("Europe/Moscow")


async def test_facts_about_one_student_written_at_once_are_all_kept(
    database: AsyncDatabase[Document],
) -> None:
    """FerretDB rewrites a whole document per update: the digest's subscribers, writing to one
    student at the same time, take turns so that none of their facts is lost."""
    store = MongoDigestStore(database)

    async def marks_of_a_subscriber(n: int) -> None:
        for k in range(10):
            await store.apply([mark_slot(a_mark_posted(mark_id=f"m-{n}-{k}"))])

    await asyncio.gather(*(marks_of_a_subscriber(n) for n in range(4)))
    book = await store.student_book("school-1", "st-1")
    assert book is not None and len(book.marks) == 40


async def test_paper_only_declarations_of_two_schools_with_the_same_ids_stay_apart(
    database: AsyncDatabase[Document],
) -> None:
    """Journals reuse ids: school B's guardian g-1 going back to e-mail must not take school
    A's g-1 off paper (A's student would get no weekly printout)."""
    store = MongoDigestStore(database)
    await store.set_paper_only("school-a", "g-1", ("st-1",), paper_only=True)
    await store.set_paper_only("school-b", "g-1", ("st-1",), paper_only=True)
    await store.set_paper_only("school-b", "g-1", ("st-1",), paper_only=False)

    assert await store.paper_only_students("school-a") == {"st-1"}
    assert await store.paper_only_students("school-b") == set()


async def test_a_records_older_event_arriving_late_does_not_win_in_the_digest(
    database: AsyncDatabase[Document],
) -> None:
    """Issue 12, defect 6: the digest applies a record's events by its version."""
    store = MongoDigestStore(database)

    async def marks() -> dict[str, str]:
        book = await store.student_book("school-1", "st-1")
        return {m.mark_id: m.value for m in book.marks} if book else {}

    posted = mark_slot(a_mark_posted(mark_id="m-1", value="5", record_version=1))
    await store.apply([posted])
    await store.apply([mark_slot(a_mark_posted(mark_id="m-1", record_version=2), retracted=True)])
    # The stale MarkPosted again, with a new mark of the same student in the same batch.
    await store.apply(
        [posted, mark_slot(a_mark_posted(mark_id="m-2", value="3", record_version=1))]
    )
    assert await marks() == {"m-2": "3"}
    # Out of order within one batch.
    await store.apply(
        [
            mark_slot(a_mark_posted(mark_id="m-3", value="2", record_version=2)),
            mark_slot(a_mark_posted(mark_id="m-3", value="5", record_version=1)),
        ]
    )
    assert await marks() == {"m-2": "3", "m-3": "2"}
    # Events published before versions existed apply as they come, the last one winning.
    await store.apply([mark_slot(a_mark_posted(mark_id="m-4", value="4"))])
    await store.apply([mark_slot(a_mark_posted(mark_id="m-4", value="5"))])
    assert (await marks())["m-4"] == "5"
    # A redelivered event changes nothing.
    await store.apply([mark_slot(a_mark_posted(mark_id="m-3", value="2", record_version=2))])
    assert await marks() == {"m-2": "3", "m-3": "2", "m-4": "5"}


async def test_retention_purges_only_what_ended_long_enough_ago_and_was_published(
    database: AsyncDatabase[Document],
) -> None:
    """152-FZ art. 21: deliveries, inbox messages and deadline misses go once their period
    has passed, never a delivery still open or one whose status event waits in the outbox."""
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    await database["deliveries"].insert_many(
        [
            {"_id": "ended-long-ago", "status": "sent", "finished_at": old},
            {"_id": "ended-lately", "status": "sent", "finished_at": recent},
            {"_id": "still-open", "status": "retry_wait", "queue": 1, "queued_at": old},
            {
                "_id": "event-unpublished",
                "status": "failed",
                "finished_at": old,
                "outbox": "normal",
            },
        ]
    )
    await database["inbox"].insert_many(
        [{"_id": "read-long-ago", "created_at": old}, {"_id": "new", "created_at": recent}]
    )
    await database["deadline_misses"].insert_many(
        [{"_id": "missed-long-ago", "deadline": old}, {"_id": "missed-lately", "deadline": recent}]
    )
    purged = await purge_expired(retention_rules(database, RetentionPeriods()), now=now)
    assert purged == {"deliveries": 1, "inbox": 1, "deadline_misses": 1}
    assert sorted(await database["deliveries"].distinct("_id")) == [
        "ended-lately",
        "event-unpublished",
        "still-open",
    ]


@pytest.mark.parametrize("direction", [1, -1])
async def test_pages_neither_repeat_nor_skip_a_document_even_with_equal_sort_values(
    database: AsyncDatabase[Document], direction: Literal[1, -1]
) -> None:
    """Issue 12, defect 10: every list is paginated (before, lists came whole or cut at a
    limit, with no way to the rest)."""
    collection = database["paged"]
    start = datetime(2026, 11, 30, tzinfo=UTC)
    # Three documents per timestamp: the cursor must break ties by `_id`.
    await collection.insert_many(
        [
            {"_id": f"d-{n:02d}", "school_id": "s", "at": start + timedelta(minutes=n // 3)}
            for n in range(20)
        ]
        + [{"_id": "other", "school_id": "t", "at": start}]
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, cursor = await find_page(
            collection,
            {"school_id": "s"},
            order="at",
            direction=direction,
            limit=7,
            after=cursor,
            keep_id=True,
        )
        seen += [doc["_id"] for doc in page]
        pages += 1
        if cursor is None:
            break
    expected = [f"d-{n:02d}" for n in range(20)]
    assert seen == (expected if direction == 1 else expected[::-1])
    assert pages == 3
    with pytest.raises(InvalidCursorError):
        await find_page(collection, {}, order="at", limit=1, after="bm90IGEgY3Vyc29y")
