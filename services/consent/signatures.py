"""Checking a detached CMS (PKCS#7) signature over a document a parent signed electronically.

Clause 10: contact data count only when handed over in writing or with an electronic
signature. We accept a signature when the document hashes to the signed digest, the signature
verifies with the signer's key (RSA or ECDSA), the signer's certificate was valid at the time of
checking, and it chains to one of the school's trusted certificates through certificates that
are themselves certificate authorities. The signer must also be the recipient (`names_recipient`):
a qualified certificate (63-FZ art. 17) names its holder by surname, given names and SNILS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
MAX_CHAIN = 5
# The qualified certificate's SNILS attribute (FSB order 795, OID of the Russian PKI).
SNILS = x509.ObjectIdentifier("1.2.643.100.3")
SignerIdentity = str  # "full_name" or "snils", as the school configures


class SignatureError(Exception):
    """Why a signature is not accepted, in words staff can act on."""


@dataclass(frozen=True)
class Signer:
    subject: str
    serial_number: int
    issuer: str
    common_name: str | None = None
    surname: str | None = None
    given_name: str | None = None  # «Мария Петровна»: the first name and the patronymic
    snils: str | None = None


def names_recipient(
    signer: Signer, *, name: str, snils: str | None, identity: SignerIdentity
) -> str | None:
    """None when the certificate names the recipient; otherwise why not, in staff's words."""
    if identity == "snils":
        if snils is None:
            return "the school binds signatures to SNILS and the recipient has none registered"
        if signer.snils != snils:
            return "the signer's certificate carries another SNILS than the recipient's"
        return None
    wanted = _comparable(name)
    full = " ".join(part for part in (signer.surname, signer.given_name) if part)
    if wanted in {_comparable(full), _comparable(signer.common_name or "")}:
        return None
    return "the signer's certificate names someone other than the recipient"


def _comparable(name: str) -> str:
    return " ".join(name.replace("ё", "е").replace("Ё", "Е").casefold().split())


def is_certificate_authority(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    if not constraints.value.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(usage.key_cert_sign)


def verify_detached(
    document: bytes, signature: bytes, trusted: list[x509.Certificate], now: datetime
) -> Signer:
    try:
        content_info = cms.ContentInfo.load(signature)
        if content_info["content_type"].native != "signed_data":
            raise SignatureError("not a CMS SignedData structure")
        signed_data = content_info["content"]
        [signer_info] = signed_data["signer_infos"]
        bag = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed_data["certificates"] or ()
        ]
    except (ValueError, TypeError) as error:
        raise SignatureError(f"unreadable signature: {error}") from None
    certificate = _signer_certificate(signer_info, bag)
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in HASHES:
        raise SignatureError(f"unsupported digest algorithm {digest_name}")
    algorithm = HASHES[digest_name]()
    signed_bytes = _signed_bytes(document, signer_info, algorithm)
    _check_signature(certificate, signer_info["signature"].native, signed_bytes, algorithm)
    _check_validity(certificate, now)
    _check_chain(certificate, bag, trusted, now)
    return Signer(
        certificate.subject.rfc4514_string(),
        certificate.serial_number,
        certificate.issuer.rfc4514_string(),
        common_name=_attribute(certificate, NameOID.COMMON_NAME),
        surname=_attribute(certificate, NameOID.SURNAME),
        given_name=_attribute(certificate, NameOID.GIVEN_NAME),
        snils=_attribute(certificate, SNILS),
    )


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _signer_certificate(
    signer_info: cms.SignerInfo, bag: list[x509.Certificate]
) -> x509.Certificate:
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise SignatureError("signer identified by key id: not supported")
    serial = sid.chosen["serial_number"].native
    issuer = sid.chosen["issuer"].dump()
    for certificate in bag:
        if certificate.serial_number == serial and certificate.issuer.public_bytes() == issuer:
            return certificate
    raise SignatureError("the signer's certificate is not in the signature")


def _signed_bytes(
    document: bytes, signer_info: cms.SignerInfo, algorithm: hashes.HashAlgorithm
) -> bytes:
    attributes = signer_info["signed_attrs"]
    if not attributes:
        return document
    digests = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
    hasher = hashes.Hash(algorithm)
    hasher.update(document)
    if digests != [hasher.finalize()]:
        raise SignatureError("the document does not match the signature: it was altered")
    # The signature covers the attributes DER-encoded as a SET OF, not as the [0] they travel in.
    encoded: bytes = attributes.dump()
    return b"\x31" + encoded[1:]


def _check_signature(
    certificate: x509.Certificate, signature: bytes, signed: bytes, algorithm: hashes.HashAlgorithm
) -> None:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(algorithm))
        else:
            raise SignatureError(f"unsupported key type {type(key).__name__}")
    except InvalidSignature:
        raise SignatureError("the signature does not verify with the signer's key") from None


def _check_validity(certificate: x509.Certificate, now: datetime) -> None:
    if now < certificate.not_valid_before_utc:
        raise SignatureError("the signer's certificate is not yet valid")
    if now > certificate.not_valid_after_utc:
        raise SignatureError(
            f"the signer's certificate expired on {certificate.not_valid_after_utc.date()}"
        )


def _check_chain(
    certificate: x509.Certificate,
    bag: list[x509.Certificate],
    trusted: list[x509.Certificate],
    now: datetime,
) -> None:
    current = certificate
    for _ in range(MAX_CHAIN):
        for anchor in trusted:
            if _issued_by(current, anchor):
                _check_validity(anchor, now)
                return
        parents = [c for c in bag if c != current and _issued_by(current, c)]
        if not parents:
            break
        current = parents[0]
        # Without this, any end-user certificate of a trusted chain could issue certificates
        # in anyone's name.
        if not is_certificate_authority(current):
            raise SignatureError(
                f"an intermediate certificate ({current.subject.rfc4514_string()}) is not a "
                "certificate authority"
            )
        _check_validity(current, now)
    raise SignatureError("the certificate is not issued by an authority this school trusts")


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
