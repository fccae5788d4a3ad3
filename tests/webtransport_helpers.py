"""What the WebTransport tests share: a short-lived self-signed certificate that browsers
accept through ``serverCertificateHashes`` (ECDSA P-256, valid at most 14 days)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificate", "make_certificate"]


@dataclass(frozen=True)
class Certificate:
    """A certificate and key on disk, and the SHA-256 of the certificate (DER)."""

    certfile: Path
    keyfile: Path
    sha256: bytes


def make_certificate(directory: Path, *, ca: bool = False) -> Certificate:
    """A certificate for 127.0.0.1 and localhost, valid 10 days (see
    :func:`socketwire.io.webtransport.write_self_signed_certificate`)."""
    from socketwire.io.webtransport import write_self_signed_certificate

    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    digest = write_self_signed_certificate(certfile, keyfile, ca=ca)
    return Certificate(certfile, keyfile, digest)
