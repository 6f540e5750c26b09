"""TOTP (RFC 6238) second factor for staff logins, via pyotp."""

from __future__ import annotations

import pyotp


def new_totp_secret() -> str:
    return str(pyotp.random_base32())


def provisioning_uri(secret: str, account: str, issuer: str = "Entrusted") -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer))


def verify_totp(secret: str, code: str, at_unix: float) -> bool:
    """Accept the current code and one step either side (clock drift on phones)."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return False
    return bool(pyotp.TOTP(secret).verify(code, for_time=int(at_unix), valid_window=1))


def current_code(secret: str, at_unix: float) -> str:
    return str(pyotp.TOTP(secret).at(int(at_unix)))
