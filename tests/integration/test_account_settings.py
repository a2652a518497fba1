"""The personal account's settings on the real stack (issue 14): a parent hands over a new
e-mail in an application signed with their electronic signature, uploaded on the settings page;
consent verifies it; a forged one is refused with a reason the parent can act on."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx

from tests.account_forms import csrf_of
from tests.conftest import AUTH
from tests.pki import a_key, certificate, pem, sign_detached
from tests.school import SCHOOL, load_guardian
from tests.services import running, serving

BASE = f"/v1/schools/{SCHOOL}"
NEW_ADDRESS = "new.maria@example.org"


async def test_a_parent_hands_over_a_new_e_mail_with_an_electronic_signature(
    service_env: dict[str, object], run_id: str
) -> None:
    ca_key, key = a_key("rsa"), a_key("ecdsa")
    ca = certificate("Удостоверяющий центр школы", ca_key, ca=True)
    signer = certificate("Иванова Мария Петровна", key, issuer=(ca, ca_key))
    impostor = certificate("Петров Пётр Петрович", key, issuer=(ca, ca_key))
    document = f"Заявление: прошу направлять сведения на {NEW_ADDRESS}".encode()
    async with AsyncExitStack() as stack:
        consent_url = await stack.enter_async_context(serving("consent", run_id, **service_env))
        consent = await stack.enter_async_context(
            httpx.AsyncClient(base_url=consent_url, timeout=30)
        )
        account = await stack.enter_async_context(
            running("account", run_id, secure_cookies=False, consent_url=consent_url, **service_env)
        )
        await load_guardian(
            consent, "g-1", "Иванова Мария Петровна", "st-1", email="maria@example.org"
        )
        trusted = await consent.put(
            f"{BASE}/trusted-certificates/school-ca", json={"pem": pem(ca)}, headers=AUTH
        )
        assert trusted.status_code == 204
        issued = await account.post(f"{BASE}/recipients/g-1/activation-codes", headers=AUTH)
        form = await account.get("/activate")
        await account.post(
            "/activate",
            data={"activation_code": issued.json()["code"], "csrf_token": csrf_of(form)},
        )
        page = await account.get("/settings")

        async def hand_over(signature: bytes, school: str = SCHOOL) -> httpx.Response:
            return await account.post(
                f"/settings/{school}/contacts",
                data={"csrf_token": csrf_of(page), "channel": "email", "address": NEW_ADDRESS},
                files={
                    "document": ("заявление.txt", document, "text/plain"),
                    "signature": ("заявление.txt.sig", signature, "application/pkcs7-signature"),
                },
                follow_redirects=False,
            )

        not_theirs = await hand_over(sign_detached(document, impostor, key))
        other_school = await hand_over(sign_detached(document, signer, key), "school-2")
        accepted = await hand_over(sign_detached(document, signer, key))
        after = await account.get("/settings?saved=contact")
        file = (await consent.get(f"{BASE}/recipients/g-1/settings", headers=AUTH)).json()

    assert page.status_code == 200 and "m***@example.org" in page.text
    assert not_theirs.status_code == 422
    assert "Подпись не прошла проверку" in not_theirs.text
    assert other_school.status_code == 404
    assert accepted.status_code == 303, accepted.text
    assert "n***@example.org" in after.text and "новый контакт сохранён" in after.text
    [email] = [c for c in file["contacts"] if c["channel"] == "email"]
    assert email["address_masked"] == "n***@example.org"
    assert email["provenance"] == "electronic: signed by CN=Иванова Мария Петровна"
