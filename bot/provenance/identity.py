"""The signing identity: a certificate chain and its ES256 private key.

By default the bot makes its own at first start, in `[storage] dir`/credentials/: a local
CA and a leaf certificate that C2PA accepts for signing (digitalSignature key usage, the
emailProtection and documentSigning EKUs, the CA's key identifiers).  Readers report such
clips as valid but from an untrusted issuer; an owner with a certificate from a trusted
issuer points `[provenance] cert_chain` / `private_key` at it instead.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IDENTITY_DIR = "credentials"
CA_FILE, CHAIN_FILE, KEY_FILE = "ca.pem", "signer-chain.pem", "signer.key"
CA_NAME, SIGNER_NAME, ORGANIZATION = "videobot local CA", "videobot", "videobot (self-issued)"
VALID_DAYS = 10 * 365
# RFC 9336's id-kp-documentSigning; C2PA accepts it beside emailProtection.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


class IdentityError(Exception):
    """The certificate or key cannot be used; the message is one line for the owner."""


@dataclass(frozen=True)
class SigningIdentity:
    """PEM bytes c2pa's signer takes: the chain (leaf first) and the leaf's private key."""

    chain_pem: bytes
    key_pem: bytes
    origin: str  # where it came from, for the start-up line and the README's wording

    @property
    def subject(self) -> str:
        leaf = x509.load_pem_x509_certificate(self.chain_pem)
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else leaf.subject.rfc4514_string()


def load_identity(chain_path: Path, key_path: Path, origin: str) -> SigningIdentity:
    """Read a PEM chain and key, checking that they belong together and the key is EC P-256."""
    try:
        chain_pem, key_pem = chain_path.read_bytes(), key_path.read_bytes()
    except OSError as error:
        raise IdentityError(f"cannot read {error.filename}: {error.strerror}") from None
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise IdentityError(f"{chain_path} holds no PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise IdentityError(f"{key_path} is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise IdentityError(f"{key_path} must be an EC P-256 key (ES256)")
    if certs[0].public_key() != key.public_key():
        raise IdentityError(f"{key_path} is not the key of the first certificate in {chain_path}")
    return SigningIdentity(chain_pem, key_pem, origin)


def ensure_local_identity(data_dir: Path) -> SigningIdentity:
    """The bot's own identity under `data_dir`, made on first use."""
    folder = data_dir / IDENTITY_DIR
    chain_path, key_path = folder / CHAIN_FILE, folder / KEY_FILE
    if not key_path.exists() and not chain_path.exists():
        _write_local_identity(folder)
    return load_identity(chain_path, key_path, f"the bot's own certificate in {folder}, untrusted")


def _write_local_identity(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key)
    leaf = _leaf_certificate(key, ca_cert, ca_key)
    pem = serialization.Encoding.PEM
    (folder / CA_FILE).write_bytes(ca_cert.public_bytes(pem))
    key_bytes = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Only the bot's user may read the key: created 0600, never widened by the umask.
    descriptor = os.open(folder / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(key_bytes)
    (folder / CHAIN_FILE).write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    # The CA's key signed the leaf and is needed no more; not keeping it means no one can mint more.


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(
        now + datetime.timedelta(days=VALID_DAYS)
    )


def _usage(*, sign: bool, certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certs,
        crl_sign=certs,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = _name(CA_NAME)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False, certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
    )
    return _validity(builder).sign(ca_key, hashes.SHA256())


def _leaf_certificate(
    key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(SIGNER_NAME))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, certs=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    return _validity(builder).sign(ca_key, hashes.SHA256())
