"""Issue 12 on the consent registry: a parent acts only for their own children and only with
proof that is theirs to give, a signature names its signer, a change accepted while Kafka is
away is published when it returns, and a contact can be erased."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from pydantic import TypeAdapter

from schemas import MarkPosted, Topics
from schemas.consent import ConsentChange, ConsentRevoked, ContactChanged
from tests.conftest import AUTH, bearer
from tests.kafka_tools import eventually, read_topic
from tests.pki import a_key, certificate, pem, sign_detached
from tests.school import (
    SCHOOL,
    WRITTEN,
    a_consent,
    a_mark,
    load_grades_reference,
    load_guardian,
    post_journal,
)
from tests.servers import Servers
from tests.services import running

BASE = f"/v1/schools/{SCHOOL}"
PARENT = bearer("parent", person_id="g-1")
DOCUMENT = "Заявление: прошу направлять сведения на maria@example.org".encode()


def changes(records: list[Any]) -> list[Any]:
    return [TypeAdapter(ConsentChange).validate_json(record.value) for record in records]


def electronic(signature: bytes, document: bytes = DOCUMENT) -> dict[str, str]:
    return {
        "form": "electronic",
        "document_base64": base64.b64encode(document).decode(),
        "signature_base64": base64.b64encode(signature).decode(),
    }


@pytest.mark.stops_kafka
async def test_a_revocation_accepted_while_kafka_is_down_is_published_when_it_returns(
    servers: Servers, service_env: dict[str, object], run_id: str
) -> None:
    """Before the outbox, the registry published right after writing: with Kafka away the
    revocation was stored, the request failed, and no service ever heard of it."""
    kafka = servers.kafka_process
    if kafka is None:
        pytest.skip("needs a broker this session may stop and start (the local stack)")
    topic = f"{run_id}.consent.changes.v1"
    async with running("consent", run_id, outbox_poll_seconds=0.5, **service_env) as consent:
        await load_guardian(consent, "g-1", "Иванова Мария", "st-1", email="m@example.org")
        await read_topic(servers.kafka_bootstrap, topic, at_least=2)  # granted, contact

        await asyncio.to_thread(kafka.down)
        try:
            revoked = await consent.post(
                f"{BASE}/consents/c-g-1/revocation", json={"reason": "заявление"}, headers=PARENT
            )
            again = await consent.post(f"{BASE}/consents/c-g-1/revocation", json={}, headers=AUTH)
            ready = await consent.get("/healthz/ready")
        finally:
            await asyncio.to_thread(kafka.up)
        records = await read_topic(
            servers.kafka_bootstrap, topic, at_least=3, timeout=90, settle=3.0
        )

    assert (revoked.status_code, again.status_code) == (200, 200)
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    revocations = [e for e in changes(records) if isinstance(e, ConsentRevoked)]
    assert [(e.payload.recipient_id, e.payload.student_id) for e in revocations] == [
        ("g-1", "st-1")
    ]


async def test_a_parent_acts_only_for_their_own_children_and_never_with_a_paper_document(
    service_env: dict[str, object], run_id: str
) -> None:
    """Before: any parent registered a consent about any student of the school, and could
    claim a paper document that only staff can have accepted."""
    async with running("consent", run_id, **service_env) as consent:
        await load_guardian(consent, "g-1", "Иванова Мария Петровна", "st-1")
        await load_guardian(consent, "g-2", "Петров Пётр", "st-2")
        other_child = await consent.put(
            f"{BASE}/consents/c-x", json=a_consent("g-1", "st-2"), headers=PARENT
        )
        in_writing = await consent.put(
            f"{BASE}/consents/c-y", json=a_consent("g-1", "st-1"), headers=PARENT
        )
        contact_in_writing = await consent.put(
            f"{BASE}/recipients/g-1/contacts/email",
            json={"address": "m@example.org", "proof": WRITTEN},
            headers=PARENT,
        )
        staff_wrong_student = await consent.put(
            f"{BASE}/consents/c-z", json=a_consent("g-1", "st-2"), headers=AUTH
        )
        for_someone_else = await consent.put(
            f"{BASE}/consents/c-w", json=a_consent("g-2", "st-2"), headers=PARENT
        )
        backwards = await consent.put(
            f"{BASE}/consents/c-v",
            json={**a_consent("g-1", "st-1"), "valid_until": "2026-01-01"},
            headers=AUTH,
        )

    assert other_child.status_code == 403, other_child.text
    assert in_writing.status_code == 403
    assert contact_in_writing.status_code == 403
    assert "staff" in in_writing.json()["detail"]
    assert staff_wrong_student.status_code == 422
    assert staff_wrong_student.json()["detail"][0]["loc"] == ["body", "student_id"]
    assert for_someone_else.status_code == 403
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["body", "valid_until"]


async def test_a_parents_electronic_signature_must_name_them_as_the_school_configures(
    service_env: dict[str, object], run_id: str
) -> None:
    """Before: any valid certificate of a trusted authority was accepted for any recipient."""
    ca_key, key = a_key("rsa"), a_key("ecdsa")
    ca = certificate("Удостоверяющий центр школы", ca_key, ca=True)

    def signed_by(name: str, **fields: str) -> dict[str, str]:
        holder = certificate(name, key, issuer=(ca, ca_key), **fields)
        return electronic(sign_detached(DOCUMENT, holder, key))

    async def hand_over(proof: dict[str, Any]) -> Any:
        return await consent.put(
            f"{BASE}/recipients/g-1/contacts/email",
            json={"address": "maria@example.org", "proof": proof},
            headers=PARENT,
        )

    async with running("consent", run_id, **service_env) as consent:
        await consent.put(
            f"{BASE}/recipients/g-1",
            json={
                "kind": "guardian",
                "name": "Иванова Мария Петровна",
                "student_ids": ["st-1"],
                "snils": "112-233-445 95",
            },
            headers=AUTH,
        )
        await consent.put(
            f"{BASE}/trusted-certificates/school-ca", json={"pem": pem(ca)}, headers=AUTH
        )
        someone_else = await hand_over(signed_by("Петров Пётр Петрович"))
        by_name = await hand_over(
            signed_by("Мария", surname="ИВАНОВА", given_name="Мария Петровна")
        )
        policy = await consent.put(
            f"{BASE}/signature-policy", json={"signer_identity": "snils"}, headers=AUTH
        )
        parent_sets_policy = await consent.put(
            f"{BASE}/signature-policy", json={"signer_identity": "full_name"}, headers=PARENT
        )
        name_only = await hand_over(signed_by("Иванова Мария Петровна"))
        other_snils = await hand_over(signed_by("Иванова Мария Петровна", snils="11223344596"))
        by_snils = await hand_over(signed_by("Иванова Мария Петровна", snils="11223344595"))
        non_ascii = await hand_over(
            {"form": "electronic", "document_base64": "ЖЖЖЖ", "signature_base64": "ЖЖЖЖ"}
        )
        bad_snils = await consent.put(
            f"{BASE}/recipients/g-3",
            json={"kind": "guardian", "name": "Х", "student_ids": ["st-1"], "snils": "11223344599"},
            headers=AUTH,
        )

    assert someone_else.status_code == 422
    assert "someone other than the recipient" in someone_else.json()["detail"][0]["msg"]
    assert by_name.status_code == 204, by_name.text
    assert (policy.status_code, parent_sets_policy.status_code) == (204, 403)
    assert name_only.status_code == 422
    assert other_snils.status_code == 422
    assert "SNILS" in other_snils.json()["detail"][0]["msg"]
    assert by_snils.status_code == 204, by_snils.text
    assert non_ascii.status_code == 422
    assert non_ascii.json()["detail"][0]["loc"] == ["body", "proof"]
    assert bad_snils.status_code == 422
    assert bad_snils.json()["detail"][0]["loc"] == ["body", "snils"]


async def test_a_removed_contact_is_erased_published_and_no_longer_used(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    """Before: a contact could only be overwritten, never removed (152-FZ art. 21)."""
    topic = f"{run_id}.consent.changes.v1"
    async with (
        running("grades", run_id, **service_env) as grades,
        running("consent", run_id, **service_env) as consent,
    ):
        await load_grades_reference(grades)
        await load_guardian(consent, "g-1", "Иванова Мария", "st-1", email="m@example.org")
        removed = await consent.delete(f"{BASE}/recipients/g-1/contacts/email", headers=PARENT)
        twice = await consent.delete(f"{BASE}/recipients/g-1/contacts/email", headers=PARENT)
        await post_journal(grades, a_mark("m-1"))
        [mark] = await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)
        event_id = str(MarkPosted.model_validate_json(mark.value).event_id)

        async def decided() -> Any:
            answer = await consent.get(
                f"{BASE}/students/st-1/decisions?event={event_id}", headers=AUTH
            )
            return answer.json()["items"] or None

        decisions = await eventually(decided)
        history = await consent.get(f"{BASE}/recipients/g-1/history?limit=2", headers=AUTH)
        rest = await consent.get(
            f"{BASE}/recipients/g-1/history?cursor={history.json()['next_cursor']}", headers=AUTH
        )
        bad_cursor = await consent.get(f"{BASE}/recipients/g-1/history?cursor=zz", headers=AUTH)
        records = await read_topic(servers.kafka_bootstrap, topic, at_least=3)

    assert (removed.status_code, twice.status_code) == (204, 404)
    reasons = {(d["recipient_id"], d["channel"]): d["reason"] for d in decisions}
    assert reasons["g-1", "email"] == "no email contact with written or signed provenance"
    actions = [e["action"] for e in history.json()["items"] + rest.json()["items"]]
    assert actions == [
        "recipient saved",
        "consent registered",
        "email contact saved",
        "email contact removed",
    ]
    assert rest.json()["next_cursor"] is None
    assert bad_cursor.status_code == 422
    contact_changes = [e for e in changes(records) if isinstance(e, ContactChanged)]
    assert [e.payload.removed for e in contact_changes] == [False, True]


async def test_withdrawn_consents_lose_their_contacts_and_old_decisions_expire(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    """Before: contacts and the decision log were kept forever (152-FZ art. 21). Here the
    retention periods are zero, so the purge acts at its next pass."""
    topic = f"{run_id}.consent.changes.v1"
    retention = {
        "contacts_after_withdrawal_days": 0,
        "decisions_retention_days": 0,
        "retention_every_seconds": 0.5,
    }
    async with (
        running("grades", run_id, **service_env) as grades,
        running("consent", run_id, **retention, **service_env) as consent,
    ):
        await load_grades_reference(grades)
        await load_guardian(consent, "g-1", "Иванова Мария", "st-1", email="m@example.org")
        await load_guardian(
            consent, "g-2", "Петров Пётр", "st-1", email="p@example.org", phone="+79161234567"
        )
        await post_journal(grades, a_mark("m-1"))
        await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)
        await consent.post(f"{BASE}/consents/c-g-2/revocation", json={}, headers=AUTH)

        async def erased() -> Any:
            records = await read_topic(servers.kafka_bootstrap, topic, at_least=1, timeout=2)
            removed = [
                e.payload.channel
                for e in changes(records)
                if isinstance(e, ContactChanged) and e.payload.removed
            ]
            return sorted(removed) if len(removed) >= 2 else None

        async def decisions_gone() -> bool:
            page = await consent.get(f"{BASE}/students/st-1/decisions", headers=AUTH)
            return page.json()["items"] == []

        removed_channels = await eventually(erased, timeout=60)
        await eventually(decisions_gone, timeout=60)
        history = await consent.get(f"{BASE}/recipients/g-2/history", headers=AUTH)
        kept = await consent.get(f"{BASE}/recipients/g-1/history", headers=AUTH)
        document = await consent.get(f"{BASE}/consents/c-g-2", headers=AUTH)

    assert removed_channels == ["email", "sms"]
    actions = [entry["action"] for entry in history.json()["items"]]
    assert sorted(actions[-2:]) == ["email contact removed", "sms contact removed"]
    assert "contact removed" not in " ".join(e["action"] for e in kept.json()["items"])
    assert document.json()["revoked_at"] is not None  # the legal record stays
