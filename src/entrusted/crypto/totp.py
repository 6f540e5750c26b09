"""TOTP (RFC 6238) second factor for staff logins, via pyotp, and its seed at rest.

A seed is as good as the second factor itself, so it is stored like personal details: under a
fresh data key wrapped by the master key (see `crypto.envelope`), bound to the staff member's
id, so a database copy without the key file yields no seed. A code is accepted once: the
time step it belongs to is returned so the caller records it and refuses it (and every
earlier step) afterwards.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass

import pyotp

from entrusted.crypto.envelope import (
    Keyring,
    WrappedKey,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap,
    wrap,
)
from entrusted.errors import TamperDetected

STEP_SECONDS = 30
_SEED_FIELD = "totp_seed"


def new_totp_secret() -> str:
    return str(pyotp.random_base32())


def provisioning_uri(secret: str, account: str, issuer: str = "Entrusted") -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer))


def matching_step(secret: str, code: str, at_unix: float, after_step: int | None) -> int | None:
    """The time step whose code `code` is (the current one or one either side, for clock
    drift on phones), provided it is later than `after_step`, the last step already used;
    otherwise None. Replaying a code, or an older one, therefore fails."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at_unix) // STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None



def current_code(secret: str, at_unix: float) -> str:
    return str(pyotp.TOTP(secret).at(int(at_unix)))


@dataclass(frozen=True, slots=True)
class SealedSeed:
    """A TOTP seed as stored: the master key's id, the wrapped data key and the ciphertext."""

    kek_id: str
    wrapped_key: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        kek = self.kek_id.encode("ascii")
        return b"".join(
            (struct.pack(">BH", len(kek), len(self.wrapped_key)), kek, self.wrapped_key,
             self.ciphertext)
        )  # fmt: skip

    @classmethod
    def from_bytes(cls, blob: bytes) -> SealedSeed:
        try:
            kek_len, key_len = struct.unpack(">BH", blob[:3])
            kek = blob[3 : 3 + kek_len].decode("ascii")
            key = blob[3 + kek_len : 3 + kek_len + key_len]
            ciphertext = blob[3 + kek_len + key_len :]
        except (struct.error, UnicodeDecodeError):
            raise TamperDetected("a stored TOTP seed is malformed") from None
        if len(key) != key_len or not ciphertext:
            raise TamperDetected("a stored TOTP seed is truncated")
        return cls(kek, key, ciphertext)


def seal_seed(keyring: Keyring, staff_id: str, secret: str) -> SealedSeed:
    dek = new_data_key()
    wrapped = wrap(keyring.current, dek)
    sealed = encrypt_field(dek, staff_id, _SEED_FIELD, secret)
    return SealedSeed(wrapped.kek_id, wrapped.blob, sealed)


def open_seed(keyring: Keyring, staff_id: str, sealed: SealedSeed) -> str:
    """The seed; TamperDetected if it was altered or moved to another staff member."""
    dek = unwrap(keyring, WrappedKey(sealed.kek_id, sealed.wrapped_key))
    return decrypt_field(dek, staff_id, _SEED_FIELD, sealed.ciphertext)
