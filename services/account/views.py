"""The contract between the account's pages and the family read model (issue 14).

The account owns sign-in, sessions and who may see which child; the family read model
(`family.py`, `family_store.py`, `family_handlers.py`, `family_usecases.py`) owns what a
family sees about a child. The account calls it only for a child the session may see, so it
never checks access itself, and a child it is not given does not exist (404, never 403).

Wiring (in `app.py`): `services.account.family_usecases.build_family(database)` returns a
`FamilyModule`; the account creates the topics of its `consumes`, calls `register(...)` with
a consumer group of its own (`<account group>-family`: the account reads some of the same
topics for itself), `ensure_indexes()` at start-up, and runs each of `loops()` under
`keep_running`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from faststream.kafka import KafkaBroker

from schemas import Envelope, Topics
from services.shared.kafka import DeadLetters


@dataclass(frozen=True, order=True)
class Identity:
    """Whom a session speaks for in one school: a consent recipient (a parent, or a student
    of basic/secondary level signing in with their own contact)."""

    school_id: str
    recipient_id: str


@dataclass(frozen=True)
class Child:
    """A student the session may see. `name` is the journal's, when it has named them."""

    school_id: str
    student_id: str
    name: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the session's identities and every child they may see (the switcher)."""

    identities: tuple[Identity, ...]
    children: tuple[Child, ...]

    def recipient_in(self, school_id: str) -> str | None:
        """The viewer's recipient id in `school_id` (their inbox, preferences, consents)."""
        return next((i.recipient_id for i in self.identities if i.school_id == school_id), None)


@dataclass(frozen=True)
class FamilyPage:
    """An HTML page: `template` is under `services/account/templates/` and extends
    `base.html`; the account adds `viewer`, `child`, `csrf_token` and `now` to `context`.
    `status`: a form answered again with what is wrong (422), say."""

    template: str
    title: str
    context: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class FamilyFile:
    """A download (the PDF extract)."""

    content: bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class FamilyRedirect:
    """After a POST: where to go next (a path of this site)."""

    location: str


class FamilyViews(Protocol):
    async def child_page(
        self,
        viewer: Viewer,
        child: Child,
        section: str,
        query: Mapping[str, str],
        *,
        now: datetime,
    ) -> FamilyPage | FamilyFile | None:
        """`GET /children/{school_id}/{student_id}` (section "") and
        `GET /children/{school_id}/{student_id}/{section}`: marks, timetable, homework,
        tests, teachers, holidays, recommendations, inbox, extract... None: no such section
        (the account answers 404)."""
        ...

    async def child_action(
        self,
        viewer: Viewer,
        child: Child,
        section: str,
        form: Mapping[str, str],
        *,
        now: datetime,
    ) -> FamilyPage | FamilyFile | FamilyRedirect | None:
        """`POST /children/{school_id}/{student_id}/{section}`; the account has checked the
        form's CSRF token already. None: 404."""
        ...


class FamilyModule(Protocol):
    """What `services.account.family_usecases.build_family(database)` returns."""

    views: FamilyViews
    # The events whose topics the account creates before subscribing.
    consumes: tuple[type[Envelope[Any]], ...]

    def register(
        self, broker: KafkaBroker, topics: Topics, *, group_id: str, dead_letters: DeadLetters
    ) -> None: ...

    async def ensure_indexes(self) -> None: ...

    def loops(self) -> Sequence[tuple[str, Callable[[], Awaitable[None]]]]:
        """Background steps (name, step), each run under `keep_running`; may be empty."""
        ...
