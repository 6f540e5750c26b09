"""A self-signed certificate for the FTPS server, for testing (`entrusted ftp selfsigned`):
production uses a certificate from a CA that clients already trust."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from entrusted.errors import Conflict


def write_selfsigned(cert_file: Path, key_file: Path, host: str, days: int = 365) -> None:
    """Write a P-256 key (0600) and a certificate for `host` (a name or an IP address);
    existing files are never overwritten (Conflict)."""
    for path in (cert_file, key_file):
        if path.exists():
            raise Conflict(f"{path} exists; remove it first to make a new one")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
