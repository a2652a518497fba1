"""After a chaos run: wait for quiet, then check from the topics, the sinks' files and the
stores that nothing was lost, sent twice, sent after a change, or left in a poison topic."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from typing import Any

from pymongo.errors import PyMongoError

from bench.chaos.faults import Chaos, arrivals
from bench.chaos.feed import Guardian
from bench.run import (
    SERVICES,
    consumer_lag,
    read_all,
    say,
    start,
)
from deploy.local.stack import Layout
from schemas import Topics
from schemas.consent import ConsentRevoked
from schemas.notify import NotificationRequested, NotificationSent
from services.notifier.domain import FATE_UNKNOWN, message_id_for
from services.shared.mongo import create_mongo_client
from services.shared.outbox import LANES

QUIET_TIMEOUT = 900.0
# What the run made happen: the sinks' refusals, and a notifier killed while it handed a
# message over (its fate is unknown: it is not sent again). A delivery may fail for good only
# for one of these; any other reason (consent or the store away at hand-over, a rendering
# error) is a defect of ours, even though it is recorded.
INJECTED_CAUSES = re.compile(
    rf"^(gave up after \d+: )?(SMTP |SMS provider |{re.escape(FATE_UNKNOWN)})"
)


async def unpublished(chaos: Chaos) -> int:
    """Documents whose events wait in an outbox, in every service's database. Read from the
    store, not a relay's gauge: a relay restarted after a kill knows nothing of what waits
    until it holds the lease again (its predecessor's runs out first)."""
    mongo = create_mongo_client(chaos.layout.mongo_url)
    waiting = 0
    try:
        for name in SERVICES:
            db = mongo[f"{chaos.running.prefix.strip('.')}_{name}"]
            for collection in await db.list_collection_names():
                waiting += await db[collection].count_documents({"outbox": {"$in": list(LANES)}})
    finally:
        await mongo.close()
    return waiting


async def quiet(chaos: Chaos, requests_topic: str, status_topic: str) -> float:
    """Until every consumer group is caught up, no outbox holds an event and every request
    ended (sent, failed or cancelled), or nothing moved for two minutes; the seconds waited."""
    started = time.monotonic()
    prefix = chaos.running.prefix
    groups = [f"{prefix}{name}" for name in SERVICES if name != "grades"]
    last, still = -1, time.monotonic()
    while time.monotonic() - started < QUIET_TIMEOUT:
        await asyncio.sleep(5)
        lags = [await consumer_lag(chaos.layout.kafka_bootstrap, g) for g in groups]
        try:
            backlog = await unpublished(chaos)
        except PyMongoError:
            backlog = -1
        requested = {r.payload.dedupe_key for r in await requests(chaos, requests_topic)}
        ended = set(await ends(chaos, status_topic))
        open_ = len(requested - ended)
        say(f"  lags {lags}, outboxes {backlog}, {open_} of {len(requested)} not ended")
        if all(lag == 0 for lag in lags) and backlog == 0 and open_ == 0:
            break
        if open_ != last:
            last, still = open_, time.monotonic()
        elif time.monotonic() - still > 120:
            break
    await asyncio.sleep(5)  # a duplicate would come late
    return time.monotonic() - started


async def requests(chaos: Chaos, topic: str) -> list[NotificationRequested]:
    found = []
    for record in await read_all(chaos.layout.kafka_bootstrap, topic):
        try:
            found.append(NotificationRequested.model_validate_json(record.value))
        except ValueError:
            continue  # our own poison
    return found


async def events_on(chaos: Chaos, topic: str) -> list[tuple[dict[str, Any], int]]:
    """Every event on `topic` that reads as one (poison messages do not): its JSON body and
    its Kafka timestamp in ms."""
    found = []
    for record in await read_all(chaos.layout.kafka_bootstrap, topic):
        try:
            body = json.loads(record.value)
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("payload"), dict):
            found.append((body, record.timestamp))
    return found


async def ends(chaos: Chaos, topic: str) -> dict[str, list[tuple[str, str]]]:
    """Per dedupe key, every status event: (type, reason)."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for body, _ in await events_on(chaos, topic):
        payload = body["payload"]
        if "dedupe_key" in payload:
            found[payload["dedupe_key"]].append((body["type"], payload.get("reason", "")))
    return found


async def consent_changes(chaos: Chaos, topic: str) -> dict[str, list[tuple[str, int]]]:
    """Per recipient, each change consent published: (type, Kafka timestamp in ms)."""
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for body, stamp in await events_on(chaos, topic):
        if "recipient_id" in body["payload"]:
            found[body["payload"]["recipient_id"]].append((body["type"], stamp))
    return found


def received(layout: Layout, since_ns: int) -> list[tuple[str, str, str, int]]:
    """(channel, message id, address, arrival ns) of everything the sinks accepted."""
    out = []
    for path, arrived in arrivals(layout.mail_dir, ".eml"):
        if arrived < since_ns:
            continue
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        mid = re.search(r"^Message-ID:\s*(\S+)", head, re.M | re.I)
        to = re.search(r"^To:\s*(.+)$", head, re.M | re.I)
        address = to.group(1).strip() if to else ""
        inner = re.search(r"<([^>]+)>", address)
        out.append(
            (
                "email",
                mid.group(1) if mid else path.name,
                inner.group(1) if inner else address,
                arrived,
            )
        )
    for path, arrived in arrivals(layout.sms_dir, ".json"):
        if arrived >= since_ns:
            body = json.loads(path.read_text())
            out.append(("sms", f"<{body['client_id']}>", "+" + body["to"].lstrip("+"), arrived))
    return out


async def check(chaos: Chaos, guardians: dict[str, Guardian], since_ns: int) -> dict[str, Any]:
    topics = Topics(chaos.running.prefix)
    asked = await requests(chaos, topics.of(NotificationRequested))
    by_key = {r.payload.dedupe_key: r.payload for r in asked}
    by_mid = {message_id_for(key): p for key, p in by_key.items()}
    statuses = await ends(chaos, topics.of(NotificationSent))
    files = received(chaos.layout, since_ns)
    delivered: Counter[str] = Counter(mid for _, mid, _, _ in files)
    lost: list[str] = []
    sent_not_received: list[str] = []
    failed_uncaused: list[str] = []
    unexplained: list[str] = []
    ended: Counter[str] = Counter()
    for key, p in by_key.items():
        kinds = {t for t, _ in statuses.get(key, [])}
        mid = message_id_for(key)
        if p.channel in ("email", "sms") and delivered[mid]:
            ended["delivered"] += 1
        elif p.channel == "inbox" and "NotificationSent" in kinds:
            ended["inbox"] += 1
        elif kinds & {"NotificationFailed", "NotificationCancelled"}:
            reason = next(r for t, r in statuses[key] if t != "NotificationSent")
            ended[f"ended: {reason[:60]}"] += 1
            if "NotificationFailed" in kinds and not INJECTED_CAUSES.match(reason):
                failed_uncaused.append(f"{key}: {reason[:100]}")
        elif "NotificationSent" in kinds:
            sent_not_received.append(key)
        else:
            lost.append(key)
    # Per recipient, event and channel: more than one message is a duplicate.
    per_notice: Counter[tuple[str, str, str]] = Counter()
    for channel, mid, _, _ in files:
        asked_for = by_mid.get(mid)
        if asked_for is None:
            unexplained.append(mid)
            continue
        per_notice[(asked_for.recipient_id, str(asked_for.source_event_id), channel)] += 1
    same_id = sum(n - 1 for n in delivered.values() if n > 1)
    duplicates = sum(n - 1 for n in per_notice.values() if n > 1)
    by_recipient = {g.recipient_id: g for g in guardians.values()}
    after_revocation: list[dict[str, Any]] = []
    to_old_contact: list[dict[str, Any]] = []
    without_consent: list[str] = []
    envelopes: dict[str, list[NotificationRequested]] = defaultdict(list)
    for r in asked:
        envelopes[message_id_for(r.payload.dedupe_key)].append(r)
    changes = await consent_changes(chaos, topics.of(ConsentRevoked))
    for channel, mid, address, arrived in files:
        owner = by_mid.get(mid)
        g = by_recipient.get(owner.recipient_id) if owner else None
        if g is None:
            continue
        if g.state in ("paper", "refused", "none"):
            without_consent.append(mid)
        change_ns = g.changed_for(channel)
        late = change_ns is not None and arrived > change_ns
        if late and (g.state == "revoked" or (g.state == "moved" and address in g.old)):
            # The evidence: when the request was made, when the change reached Kafka.
            change_ns = change_ns or 0
            made = envelopes[mid]
            request = made[0]  # the notifier keeps the first request of a dedupe key
            evidence = {
                "message": mid,
                "recipient": g.recipient_id,
                "channel": channel,
                "event": str(request.payload.source_event_id),
                "sent_after_change_s": (arrived - change_ns) / 1e9,
                "request_recorded_after_change_s": request.recorded_at.timestamp()
                - change_ns / 1e9,
                "requests_made_after_change_s_and_old_address": [
                    (r.recorded_at.timestamp() - change_ns / 1e9, r.payload.address in g.old)
                    for r in made
                ],
                "change_in_kafka_after_s": [
                    (stamp_ms * 1_000_000 - change_ns) / 1e9
                    for kind, stamp_ms in changes.get(g.recipient_id, [])
                    if kind in ("ContactChanged", "ConsentRevoked")
                ],
            }
            (after_revocation if g.state == "revoked" else to_old_contact).append(evidence)
    dead: dict[str, int] = {}
    for topic, markers in chaos.poison.items():
        values = [
            r.value or b"" for r in await read_all(chaos.layout.kafka_bootstrap, topic + ".dlt")
        ]
        dead[topic] = sum(1 for m in markers if any(m in v for v in values))
    poisoned = sum(map(len, chaos.poison.values()))
    figures = {
        "requests": len(by_key),
        "requests_by_channel": dict(Counter(p.channel for p in by_key.values())),
        "messages_received": len(files),
        "outcomes": dict(ended.most_common()),
        "lost": len(lost) + len(sent_not_received),
        "lost_never_ended": lost[:20],
        "lost_sent_but_not_received": sent_not_received[:20],
        # What the notifier recorded of each: its status, attempts, reason and times.
        "lost_deliveries": await deliveries(chaos, (lost + sent_not_received)[:20]),
        "failed_without_an_injected_cause": len(failed_uncaused),
        "failed_without_an_injected_cause_examples": failed_uncaused[:20],
        "unexplained_messages": len(unexplained),
        "duplicate": duplicates,
        "repeats_with_the_same_message_id": same_id,
        "sent_after_revocation": len(after_revocation),
        "sent_after_revocation_examples": after_revocation[:20],
        "sent_to_replaced_contact": len(to_old_contact),
        "sent_to_replaced_contact_examples": to_old_contact[:20],
        "sent_without_consent": len(without_consent),
        "poison_messages": poisoned,
        "poison_dead_lettered": sum(dead.values()),
        "poison_by_topic": dead,
        "deadline_missed": sum(
            1 for events in statuses.values() for t, _ in events if t == "DeadlineMissed"
        ),
    }
    figures["passed"] = not (
        figures["lost"]
        or figures["failed_without_an_injected_cause"]
        or figures["duplicate"]
        or figures["unexplained_messages"]
        or figures["sent_after_revocation"]
        or figures["sent_to_replaced_contact"]
        or figures["sent_without_consent"]
        or figures["poison_dead_lettered"] != poisoned
    )
    return figures


async def deliveries(chaos: Chaos, keys: list[str]) -> list[dict[str, Any]]:
    """The notifier's records of `keys`, less the request and the outbox's plumbing."""
    if not keys:
        return []
    mongo = create_mongo_client(chaos.layout.mongo_url)
    try:
        db = mongo[f"{chaos.running.prefix.strip('.')}_notifier"]
        hidden = {"request": 0, "pending_events": 0, "outbox": 0}
        found = [doc async for doc in db["deliveries"].find({"_id": {"$in": keys}}, hidden)]
    finally:
        await mongo.close()
    return json.loads(json.dumps(found, default=str))


# Written when a document is (re)written, not what it says: a rebuild writes them anew.
WRITTEN_AT = frozenset({"updated_at", "created_at", "received_at", "written_at", "expires_at"})


async def rebuilt_digest(layout: Layout, prefix: str) -> dict[str, Any]:
    """A second digest with a consumer group and a database of its own reads the topics from
    the start; its read model must equal the one that lived through the faults."""
    live, fresh = f"{prefix.strip('.')}_digest", f"{prefix.strip('.')}_digest_rebuilt"
    env = {"VESTNIK_DIGEST_MONGO_DB": fresh, "VESTNIK_DIGEST_GROUP": f"{prefix}digest-rebuilt"}
    again = await asyncio.to_thread(start, layout, prefix, ("digest",), replica=2, env=env)
    try:
        while await consumer_lag(layout.kafka_bootstrap, f"{prefix}digest-rebuilt") != 0:
            await asyncio.sleep(2)
        await asyncio.sleep(3)
    finally:
        again.stop()
    mongo = create_mongo_client(layout.mongo_url)
    figures: dict[str, Any] = {"collections": {}, "differing": 0}
    try:
        names = set(await mongo[live].list_collection_names())
        names |= set(await mongo[fresh].list_collection_names())
        for name in sorted(names):
            sides = []
            for db in (live, fresh):
                docs = {}
                async for doc in mongo[db][name].find({}):
                    key = doc.pop("_id")
                    docs[str(key)] = {k: v for k, v in doc.items() if k not in WRITTEN_AT}
                sides.append(docs)
            a, b = sides
            differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            figures["collections"][name] = {
                "live": len(a),
                "rebuilt": len(b),
                "differing": len(differing),
                "examples": differing[:5],
            }
            figures["differing"] += len(differing)
        await mongo.drop_database(fresh)
    finally:
        await mongo.close()
    return figures
