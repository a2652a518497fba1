"""The last moment before a message leaves: the relay is about to take an e-mail (before the
final dot of DATA, see `sender.HandingOverSMTP`) or the SMS provider is about to be asked.

Two promises are kept there. An e-mail is marked `sending`, so that a process killed after
that moment is not followed by a successor sending it again. Then consent is asked whether the
message may still go: the notifier's own view of consent comes through Kafka, a second or more
behind a revocation or a new contact that consent has already accepted.

Consent's yes holds for a few seconds (its hand-over window): a change that would stop the
message answers only once the window has ended. A message whose dot cannot go within it is
not handed over, and is asked about again on its next try.

Messages arrive one by one from concurrent conversations; they are answered together, as a
log's group commit does: one question to consent and one database write wait until `group`
messages are waiting, or `linger` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from schemas import NotificationRequested
from services.notifier.domain import WithdrawnError


class MarksSending(Protocol):
    async def mark_sending(self, keys: list[str], at: datetime) -> None: ...


@dataclass(frozen=True)
class ConsentAnswer:
    refusals: dict[str, str]  # why consent, as it stands now, refuses a request, by dedupe key
    # The others are to be handed over before this `time.monotonic()`, or not at all.
    hand_over_by: float = math.inf


class ConsentNow(Protocol):
    async def answer(self, requests: list[NotificationRequested]) -> ConsentAnswer: ...


class AnswerTooOldError(Exception):
    """Consent's yes came, or its message got to its dot, after the window it was given for."""


@dataclass
class _Waiting:
    request: NotificationRequested
    done: asyncio.Future[float]  # when its hand-over window ends


class HandOver:
    """`await hand_over(request)` returns when `request` may be handed over, at once: its mark
    (if `marks` is given) is written and consent (if given) still allows it. It raises
    `WithdrawnError` when consent refuses it now, `AnswerTooOldError` when consent's yes came
    back too late to use, and whatever error the question or the write met otherwise; either
    way the message must not be handed over."""

    def __init__(
        self,
        consent: ConsentNow | None,
        marks: MarksSending | None,
        *,
        group: int,
        linger: float = 0.01,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consent = consent
        self._marks = marks
        self._group = group
        self._linger = linger
        self._now = now
        self._monotonic = monotonic
        self._waiting: list[_Waiting] = []
        self._full = asyncio.Event()
        self._answering: asyncio.Task[None] | None = None

    async def __call__(self, request: NotificationRequested) -> None:
        waiting = _Waiting(request, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if len(self._waiting) >= self._group:
            self._full.set()
        if self._answering is None or self._answering.done():
            self._answering = asyncio.create_task(self._answer(), name="hand-over")
        hand_over_by = await waiting.done
        # Checked once the sender is back: its dot follows without another wait.
        if self._monotonic() >= hand_over_by:
            raise AnswerTooOldError("consent's answer is older than its hand-over window")

    async def _answer(self) -> None:
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._linger)
            self._full.clear()
            batch, self._waiting = self._waiting, []
            try:
                # The mark first, consent last: what consent answers is then at most a round
                # trip old at the dot (the other way round, the mark's write under a loaded
                # store let a contact replaced 0.2 s after the answer get the e-mail). One it
                # refuses is marked but never handed over; its cancellation replaces the mark.
                if self._marks is not None:
                    keys = [w.request.payload.dedupe_key for w in batch]
                    await self._marks.mark_sending(keys, self._now())
                answer = await self._answer_of(batch)
            except Exception as error:  # consent or the database away: nothing is handed over
                for waiting in batch:
                    _settle(waiting.done, error)
                continue
            for waiting in batch:
                reason = answer.refusals.get(waiting.request.payload.dedupe_key)
                _settle(
                    waiting.done,
                    WithdrawnError(reason) if reason is not None else answer.hand_over_by,
                )

    async def _answer_of(self, batch: list[_Waiting]) -> ConsentAnswer:
        if self._consent is None:
            return ConsentAnswer({})
        return await self._consent.answer([waiting.request for waiting in batch])


def _settle(done: asyncio.Future[float], outcome: Exception | float) -> None:
    if done.done():  # its sender gave up waiting (cancelled)
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
