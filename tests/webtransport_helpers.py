"""What the WebTransport tests share: a short-lived self-signed certificate that browsers
accept through ``serverCertificateHashes`` (ECDSA P-256, valid at most 14 days), and a
socketwire server with WebTransport on."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Certificate", "make_certificate"]


@dataclass(frozen=True)
class Certificate:
    """A certificate and key on disk, and the SHA-256 of the certificate (DER)."""

    certfile: Path
    keyfile: Path
    sha256: bytes


def make_certificate(directory: Path, *, ca: bool = False) -> Certificate:
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, valid 10 days.

    ``ca``: mark it as a CA (``ssl.SSLContext.get_ca_certs`` lists only those, so a Python
    client trusts it through ``load_verify_locations``).
    """
    crypto = pytest.importorskip("cryptography", reason="the webtransport extra (aioquic)")
    assert crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return Certificate(certfile, keyfile, hashlib.sha256(der).digest())
