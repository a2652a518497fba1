"""Every list an API answers comes in pages: `limit` and an opaque `cursor`, answered as
`{"items": [...], "next_cursor": ...}` (`null` on the last page).

Keyset pagination on (a sort field, `_id`): a page never repeats or skips a document however many
are inserted meanwhile, and costs the same on page 1,000 as on page 1 (no `skip`).
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, Literal, TypeVar

from bson import json_util
from fastapi import Query
from pydantic import BaseModel, Field
from pymongo.asynchronous.collection import AsyncCollection

from services.shared.mongo import Document

Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many per page.")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=300,
        description="The previous page's `next_cursor`; none for the first page.",
    ),
]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list, in a stable order."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


class InvalidCursorError(ValueError):
    """A cursor this list did not give out: a 422 naming `query.cursor`."""


async def find_page(
    collection: AsyncCollection[Document],
    query: Document,
    *,
    order: str,
    direction: Literal[1, -1] = 1,
    limit: int,
    after: str | None,
    projection: Document | None = None,
    keep_id: bool = False,
) -> tuple[list[Document], str | None]:
    """One page of `query` sorted by `order` then `_id` (both ascending or both descending),
    starting after the document `after` names; and the cursor of the next page."""
    if after is not None:
        value, last_id = decode_cursor(after, parts=2)
        beyond = "$gt" if direction == 1 else "$lt"
        keyset = [{order: {beyond: value}}, {order: value, "_id": {beyond: last_id}}]
        # Beside the query's own fields, not under an `$and`: FerretDB pushes down only
        # top-level equalities, so the next page is read from the index like the first.
        query = (
            {**query, "$or": keyset} if "$or" not in query else {"$and": [query, {"$or": keyset}]}
        )
    found = collection.find(query, projection).sort([(order, direction), ("_id", direction)])
    documents = [doc async for doc in found.limit(limit + 1)]
    next_cursor = None
    if len(documents) > limit:
        last = documents[limit - 1]
        next_cursor = encode_cursor(last.get(order), last["_id"])
    page = documents[:limit]
    if not keep_id:
        page = [{key: value for key, value in doc.items() if key != "_id"} for doc in page]
    return page, next_cursor


def encode_cursor(*key: Any) -> str:
    """An opaque cursor naming the last item of a page by its sort key."""
    return base64.urlsafe_b64encode(json_util.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str, *, parts: int) -> tuple[Any, ...]:
    """The sort key a cursor names; InvalidCursorError if this service did not make it."""
    try:
        key = json_util.loads(base64.urlsafe_b64decode(cursor.encode()))
    # Whatever a made-up cursor breaks in the decoders, it is the caller's mistake.
    except Exception as error:
        raise InvalidCursorError(cursor) from error
    if not isinstance(key, list) or len(key) != parts:
        raise InvalidCursorError(cursor)
    return tuple(key)
