"""Password hashing (argon2id) and random bearer tokens stored as SHA-256 digests.

Tokens carry 256 bits of randomness, so a fast hash is safe for them (nothing to brute-force)
and keeps authentication O(1) per request; passwords are low-entropy and get argon2id.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from entrusted.domain.ids import ID_HEX_DIGITS

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
TOKEN_PREFIX = "ent_"  # noqa: S105 - a public prefix, not a secret


def hash_password(password: str) -> str:
    return str(_HASHER.hash(password))


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash that verification of an unknown account still spends time on, so response
# times do not reveal which usernames exist. It is a literal, not `hash_password(...)` at import:
# that cost every CLI call (even `--version`) one argon2 hash. Verifying it costs what verifying
# a real hash costs only while its parameters are the hasher's (tests/unit/test_secrets.py).
DUMMY_PASSWORD_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$ylP/BhETDgL9T9ZHt/mi+w$"  # noqa: S105 - a public dummy
    "XNV4D3YUeNcUPJ6dDlFhZK8rhZ8PrXgdP2jBLB48PEo"
)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_id(prefix: str) -> str:
    """A new id; its shape is `domain.ids` (which entrypoints check incoming ids against)."""
    return f"{prefix}_{secrets.token_hex(ID_HEX_DIGITS // 2)}"
