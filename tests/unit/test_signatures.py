"""Detached CMS signatures: accepted when sound, refused with a reason otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.consent.signatures import SignatureError, verify_detached
from tests.pki import NOW, a_key, certificate, sign_detached

DOCUMENT = "Заявление: прошу направлять сведения на maria@example.org".encode()


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_a_sound_signature_names_its_signer(kind: str) -> None:
    ca_key, key = a_key(kind), a_key(kind)
    ca = certificate("Школьный УЦ", ca_key, ca=True)
    signer = certificate("Иванова Мария Петровна", key, issuer=(ca, ca_key))
    verified = verify_detached(DOCUMENT, sign_detached(DOCUMENT, signer, key), [ca], NOW)
    assert verified.subject == "CN=Иванова Мария Петровна"


def test_refusals_say_why() -> None:
    ca_key, key = a_key("rsa"), a_key("rsa")
    ca = certificate("Школьный УЦ", ca_key, ca=True)
    signer = certificate("Иванова Мария", key, issuer=(ca, ca_key))
    signature = sign_detached(DOCUMENT, signer, key)
    other_ca_key = a_key("rsa")
    other_ca = certificate("Чужой УЦ", other_ca_key, ca=True)
    expired = certificate(
        "Иванова Мария", key, issuer=(ca, ca_key), not_after=NOW - timedelta(days=1)
    )

    cases = {
        "altered": lambda: verify_detached(DOCUMENT + b"!", signature, [ca], NOW),
        "not issued by an authority": lambda: verify_detached(DOCUMENT, signature, [other_ca], NOW),
        "expired": lambda: verify_detached(
            DOCUMENT, sign_detached(DOCUMENT, expired, key), [ca], NOW
        ),
        "unreadable": lambda: verify_detached(DOCUMENT, b"not a signature", [ca], NOW),
    }
    for reason, check in cases.items():
        with pytest.raises(SignatureError, match=reason):
            check()
