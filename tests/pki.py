"""A throwaway PKI made in the test: CAs, signer certificates, detached CMS signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from services.consent.signatures import SNILS

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
NOW = datetime.now(UTC)


def a_key(kind: str) -> Key:
    return (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )


def certificate(
    name: str,
    key: Key,
    *,
    issuer: tuple[x509.Certificate, Key] | None = None,
    ca: bool = False,
    not_after: datetime | None = None,
    surname: str | None = None,
    given_name: str | None = None,
    snils: str | None = None,
) -> x509.Certificate:
    """`surname`, `given_name` and `snils` as a qualified certificate (63-FZ) names its holder."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if surname:
        attributes.append(x509.NameAttribute(NameOID.SURNAME, surname))
    if given_name:
        attributes.append(x509.NameAttribute(NameOID.GIVEN_NAME, given_name))
    if snils:
        attributes.append(x509.NameAttribute(SNILS, snils))
    subject = x509.Name(attributes)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA256())
    )


def sign_detached(document: bytes, signer: x509.Certificate, key: Key) -> bytes:
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(document)
        .add_signer(signer, key, hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def pkcs7_with_chain(
    document: bytes, signer: x509.Certificate, key: Key, chain: list[x509.Certificate]
) -> bytes:
    """A detached signature that also carries `chain` (intermediate certificates)."""
    builder = (
        pkcs7.PKCS7SignatureBuilder().set_data(document).add_signer(signer, key, hashes.SHA256())
    )
    for extra in chain:
        builder = builder.add_certificate(extra)
    return builder.sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
    )
