"""The consent service on the real broker and database: who is told, on which channel, and why."""

from __future__ import annotations

import base64
import csv
import io
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from schemas import MarkPosted, NotificationRequested, Topics
from schemas.consent import ConsentRevoked
from tests.conftest import AUTH, bearer
from tests.kafka_tools import produce_raw, read_topic
from tests.pki import NOW, a_key, certificate, pem, sign_detached
from tests.school import (
    SCHOOL,
    WRITTEN,
    a_mark,
    load_grades_reference,
    load_guardian,
    post_journal,
)
from tests.servers import Servers
from tests.services import running

BASE = f"/v1/schools/{SCHOOL}"
MARKS_BY_SMS = {"channels": {"marks": ["sms", "inbox"]}}
MARKS_BY_EMAIL_AND_SMS = {"channels": {"marks": ["email", "sms"]}}


def requested(records: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    requests = [NotificationRequested.model_validate_json(record.value) for record in records]
    return {(r.payload.recipient_id, r.payload.channel) for r in requests}


async def test_a_class_with_every_state_gets_exactly_the_requests_it_consented_to(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        await load_grades_reference(grades)
        guardians = [
            ("g-email", {"email": "maria@Example.ORG"}),
            ("g-sms", {"phone": "8 (916) 123-45-67", "preferences": MARKS_BY_SMS}),
            (
                "g-both",
                {
                    "email": "both@example.org",
                    "phone": "+7 916 765-43-21",
                    "preferences": MARKS_BY_EMAIL_AND_SMS,
                },
            ),
            ("g-refused", {"decision": "refused", "email": "refused@example.org"}),
            ("g-revoked", {"email": "revoked@example.org"}),
            ("g-none", {"decision": None, "email": "none@example.org"}),
            (
                "g-paper",
                {
                    "email": "paper@example.org",
                    "preferences": {"paper_only_reason": "нет доступа к интернету"},
                },
            ),
            ("g-unproven", {}),
        ]
        for guardian_id, details in guardians:
            await load_guardian(consent, guardian_id, f"Родитель {guardian_id}", "st-1", **details)
        unproven = await consent.put(
            f"{BASE}/recipients/g-unproven/contacts/email",
            json={"address": "unproven@example.org"},
            headers=AUTH,
        )
        revoked = await consent.post(
            f"{BASE}/consents/c-g-revoked/revocation", json={"reason": "заявление"}, headers=AUTH
        )

        await post_journal(grades, a_mark("m-1"))
        records = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=6, settle=2.0
        )
        [mark] = await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=1)
        event_id = str(MarkPosted.model_validate_json(mark.value).event_id)
        decisions = await consent.get(
            f"{BASE}/students/st-1/decisions?event={event_id}", headers=AUTH
        )

        # Redelivered, the same event makes no new request.
        await produce_raw(servers.kafka_bootstrap, mark.topic, mark.value, key=mark.key)
        again = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=7, timeout=5
        )

    assert unproven.status_code == 422
    assert unproven.json()["detail"][0]["loc"] == ["body", "proof"]
    assert revoked.json() == {"status": "revoked"}
    assert requested(records) == {
        ("g-email", "email"),
        ("g-email", "inbox"),
        ("g-sms", "sms"),
        ("g-sms", "inbox"),
        ("g-both", "email"),
        ("g-both", "sms"),
        ("g-unproven", "inbox"),  # the personal account needs no handed-over contact
    }
    addresses = {
        NotificationRequested.model_validate_json(r.value).payload.address for r in records
    }
    assert {"maria@example.org", "+79161234567", "+79167654321"} <= addresses  # normalised
    # Each address carries when it was handed over, for the notifier to refuse a replaced one.
    made = [NotificationRequested.model_validate_json(r.value) for r in records]
    assert all((m.payload.contact_as_of is None) == (m.payload.address is None) for m in made)
    assert all(m.payload.contact_as_of <= m.recorded_at for m in made if m.payload.contact_as_of)
    reasons = {(d["recipient_id"], d["channel"]): d["reason"] for d in decisions.json()["items"]}
    assert reasons["g-refused", "email"] == "consent refused"
    assert reasons["g-revoked", "email"].startswith("consent revoked on ")
    assert reasons["g-none", "email"] == "no consent registered"
    assert reasons["g-paper", "email"] == "paper only: нет доступа к интернету"
    assert reasons["g-unproven", "email"] == "no email contact with written or signed provenance"
    assert reasons["g-email", "sms"] == "marks not wanted by sms"
    assert len(again) == len(records)


async def test_revocation_stops_requests_and_is_published(
    servers: Servers, service_env: dict[str, object], topics: Topics, run_id: str
) -> None:
    async with AsyncExitStack() as stack:
        grades = await stack.enter_async_context(running("grades", run_id, **service_env))
        consent = await stack.enter_async_context(running("consent", run_id, **service_env))
        await load_grades_reference(grades)
        await load_guardian(consent, "g-1", "Иванова Мария", "st-1", email="m@example.org")
        await post_journal(grades, a_mark("m-before"))
        before = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=2
        )
        # The parent revokes with their own token.
        parent = bearer("parent", person_id="g-1")
        revoke = await consent.post(f"{BASE}/consents/c-g-1/revocation", json={}, headers=parent)
        await post_journal(grades, a_mark("m-after"))
        await read_topic(servers.kafka_bootstrap, topics.of(MarkPosted), at_least=2)
        after = await read_topic(
            servers.kafka_bootstrap, topics.of(NotificationRequested), at_least=3, timeout=5
        )
        changes = await read_topic(
            servers.kafka_bootstrap, f"{run_id}.consent.changes.v1", at_least=3
        )

    assert revoke.status_code == 200
    assert len(after) == len(before) == 2
    events = [
        TypeAdapter(ConsentRevoked).validate_json(r.value)
        for r in changes
        if dict(r.headers)["x-event-type"] == b"ConsentRevoked"
    ]
    assert [(e.payload.recipient_id, e.payload.student_id) for e in events] == [("g-1", "st-1")]


async def test_the_audit_export_lists_every_version_with_the_152_fz_fields(
    service_env: dict[str, object], run_id: str
) -> None:
    async with running("consent", run_id, **service_env) as consent:
        await load_guardian(consent, "g-1", "Иванова Мария", "st-1", email="m@example.org")
        await consent.post(
            f"{BASE}/consents/c-g-1/revocation", json={"reason": "переезд"}, headers=AUTH
        )
        as_json = await consent.get(f"{BASE}/recipients/g-1/history", headers=AUTH)
        as_csv = await consent.get(f"{BASE}/recipients/g-1/history?format=csv", headers=AUTH)
        stranger = await consent.get(
            f"{BASE}/recipients/g-1/history", headers=bearer("parent", person_id="g-2")
        )
        bad_phone = await consent.put(
            f"{BASE}/recipients/g-1/contacts/sms",
            json={"address": "12", "proof": WRITTEN},
            headers=AUTH,
        )

    entries = as_json.json()["items"]
    assert [e["action"] for e in entries] == [
        "recipient saved",
        "consent registered",
        "email contact saved",
        "consent revoked",
    ]
    consent_document = entries[1]["details"]
    for field in (
        "operator",
        "purpose",
        "data_categories",
        "actions",
        "valid_from",
        "revocation_procedure",
        "decision",
        "proof",
        "registered_by",
    ):
        assert consent_document[field], field
    assert consent_document["proof"]["document_number"] == "17"
    assert "m@example.org" not in as_json.text  # the proof is kept, the address is not copied
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["action"] for row in rows] == [e["action"] for e in entries]
    assert stranger.status_code == 403
    assert bad_phone.status_code == 422
    assert bad_phone.json()["detail"][0]["loc"] == ["body", "address"]


async def test_an_electronically_handed_over_contact_needs_a_sound_trusted_signature(
    service_env: dict[str, object], run_id: str
) -> None:
    ca_key, other_ca_key, key = a_key("rsa"), a_key("ecdsa"), a_key("ecdsa")
    ca = certificate("Удостоверяющий центр школы", ca_key, ca=True)
    other_ca = certificate("Чужой центр", other_ca_key, ca=True)
    signer = certificate("Иванова Мария Петровна", key, issuer=(ca, ca_key))
    stranger = certificate("Иванова Мария Петровна", key, issuer=(other_ca, other_ca_key))
    expired = certificate(
        "Иванова Мария Петровна", key, issuer=(ca, ca_key), not_after=NOW - timedelta(days=1)
    )
    document = "Заявление: прошу направлять сведения на maria@example.org".encode()

    def proof(signed: bytes, signature: bytes) -> dict[str, str]:
        return {
            "form": "electronic",
            "document_base64": base64.b64encode(signed).decode(),
            "signature_base64": base64.b64encode(signature).decode(),
        }

    async with running("consent", run_id, **service_env) as consent:
        await load_guardian(consent, "g-1", "Иванова Мария Петровна", "st-1")
        trusted = await consent.put(
            f"{BASE}/trusted-certificates/school-ca", json={"pem": pem(ca)}, headers=AUTH
        )

        async def contact(body_proof: dict[str, str] | None) -> Any:
            body: dict[str, Any] = {"address": "maria@example.org"}
            if body_proof is not None:
                body["proof"] = body_proof
            return await consent.put(
                f"{BASE}/recipients/g-1/contacts/email", json=body, headers=AUTH
            )

        no_proof = await contact(None)
        tampered = await contact(proof(document + b" ", sign_detached(document, signer, key)))
        untrusted = await contact(proof(document, sign_detached(document, stranger, key)))
        outdated = await contact(proof(document, sign_detached(document, expired, key)))
        accepted = await contact(proof(document, sign_detached(document, signer, key)))
        history = (await consent.get(f"{BASE}/recipients/g-1/history", headers=AUTH)).json()[
            "items"
        ]

    assert trusted.status_code == 204
    assert no_proof.status_code == 422
    for refused, reason in ((tampered, "altered"), (untrusted, "trusts"), (outdated, "expired")):
        assert refused.status_code == 422
        [error] = refused.json()["detail"]
        assert error["loc"] == ["body", "proof", "signature_base64"]
        assert reason in error["msg"]
    assert accepted.status_code == 204
    saved = [entry for entry in history if entry["action"] == "email contact saved"]
    assert [entry["details"]["provenance"]["summary"] for entry in saved] == [
        "electronic: signed by CN=Иванова Мария Петровна"
    ]


async def test_a_person_sees_their_own_choices_contacts_and_consents_masked_and_no_one_else_s(
    service_env: dict[str, object], run_id: str
) -> None:
    """What the personal account's settings page reads: the parent's own file, addresses
    masked, the 152-FZ text of each consent; another parent's token is refused."""
    async with running("consent", run_id, **service_env) as consent:
        await load_guardian(
            consent,
            "g-1",
            "Иванова Мария",
            ("st-1", "st-2"),
            email="maria@example.org",
            phone="+79161234567",
            preferences=MARKS_BY_SMS,
        )
        await load_guardian(consent, "g-2", "Петров Олег", "st-3", email="o@example.org")
        revoked = await consent.post(
            f"{BASE}/consents/c-g-1-st-2/revocation", json={}, headers=AUTH
        )
        own = await consent.get(
            f"{BASE}/recipients/g-1/settings", headers=bearer("parent", person_id="g-1")
        )
        staff = await consent.get(f"{BASE}/recipients/g-1/settings", headers=AUTH)
        other = await consent.get(
            f"{BASE}/recipients/g-1/settings", headers=bearer("parent", person_id="g-2")
        )
        unknown = await consent.get(f"{BASE}/recipients/nobody/settings", headers=AUTH)

    assert revoked.status_code == 200
    assert own.status_code == 200, own.text
    file = own.json()
    assert staff.json() == file
    assert (other.status_code, unknown.status_code) == (403, 422)
    assert file["channels"]["marks"] == ["inbox", "sms"]
    assert file["channels"]["homework"] == ["inbox"]  # the default, never chosen
    assert [(c["channel"], c["address_masked"]) for c in file["contacts"]] == [
        ("email", "m***@example.org"),
        ("sms", "+7 *** ***-45-67"),
    ]
    assert "maria@example.org" not in own.text and "+79161234567" not in own.text
    by_student = {c["student_id"]: c for c in file["consents"]}
    assert by_student["st-1"]["revoked_at"] is None
    assert by_student["st-2"]["revoked_at"] is not None
    assert by_student["st-1"]["purpose"] and by_student["st-1"]["data_categories"]
    assert by_student["st-1"]["provenance"].startswith("written: №")
