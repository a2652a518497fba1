"""Kafka entrypoints of the account: consent's changes (contacts by digest, decisions) and
the journal's reference data (students' names)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from schemas import Topics
from schemas.consent import ConsentChange, ContactChanged
from schemas.journal import ReferenceEvent, StudentChanged
from services.account import usecases
from services.account.store import MongoAccountStore
from services.shared.kafka import DeadLetters, batch_subscriptions


def register_handlers(
    broker: KafkaBroker,
    topics: Topics,
    *,
    store: MongoAccountStore,
    group_id: str,
    dead_letters: DeadLetters,
) -> None:
    batches_of = batch_subscriptions(broker, topics, group_id=group_id, dead_letters=dead_letters)

    @batches_of(ContactChanged, ConsentChange)
    async def on_consent_changes(events: list[ConsentChange]) -> None:
        """Who can sign in with which contact, and which children they may see."""
        await usecases.apply_consent_changes(events, store)

    @batches_of(StudentChanged, ReferenceEvent)
    async def on_reference(events: list[ReferenceEvent]) -> None:
        """Students' names for the children list."""
        await usecases.apply_reference(events, store)
