"""Detached CMS signatures: accepted when sound, refused with a reason otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.consent.requests import snils_checksum_ok
from services.consent.signatures import SignatureError, Signer, names_recipient, verify_detached
from tests.pki import NOW, a_key, certificate, pkcs7_with_chain, sign_detached

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


def test_a_chain_through_a_certificate_that_is_not_an_authority_is_refused() -> None:
    """Before: any certificate of the bag that verified the next one counted as an issuer, so a
    parent's own end-user certificate could issue one in another parent's name."""
    ca_key, holder_key, forged_key = a_key("rsa"), a_key("rsa"), a_key("rsa")
    ca = certificate("Школьный УЦ", ca_key, ca=True)
    holder = certificate("Петров Пётр", holder_key, issuer=(ca, ca_key))
    forged = certificate("Иванова Мария", forged_key, issuer=(holder, holder_key))
    signature = pkcs7_with_chain(DOCUMENT, forged, forged_key, [holder])
    with pytest.raises(SignatureError, match="not a certificate authority"):
        verify_detached(DOCUMENT, signature, [ca], NOW)
    intermediate = certificate("Промежуточный УЦ", holder_key, issuer=(ca, ca_key), ca=True)
    sound = certificate("Иванова Мария", forged_key, issuer=(intermediate, holder_key))
    signature = pkcs7_with_chain(DOCUMENT, sound, forged_key, [intermediate])
    assert verify_detached(DOCUMENT, signature, [ca], NOW).common_name == "Иванова Мария"


def test_a_signer_is_the_recipient_by_full_name_or_by_snils() -> None:
    signer = Signer(
        "CN=x", 1, "CN=ca", surname="Иванова", given_name="Мария Петровна", snils="11223344595"
    )

    def mismatch(identity: str, name: str = "иванова  мария петровна", snils: str | None = None):
        return names_recipient(signer, name=name, snils=snils, identity=identity)

    assert mismatch("full_name") is None
    assert mismatch("full_name", name="Иванова Мария") is not None
    assert mismatch("snils", snils="11223344595") is None
    assert mismatch("snils", snils="11223344596") is not None
    assert mismatch("snils") is not None  # no SNILS registered: nothing to compare


def test_snils_check_digits() -> None:
    assert snils_checksum_ok("11223344595")
    assert not snils_checksum_ok("11223344596")
    assert not snils_checksum_ok("1122334459")
