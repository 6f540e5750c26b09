"""The staff second factor (P8, P14): sealed TOTP seeds, codes accepted once.

Kept apart from `staff.py` so the login path reads as passwords and limits, and every rule
about codes lives here: a seed is sealed under the master key before it is stored, a code
counts only for a time step later than the last one used (a replayed or older code fails),
and whether staff without a second factor may log in at all is one setting.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from entrusted.crypto.envelope import Keyring, WrappedKey, rewrap
from entrusted.crypto.totp import (
    SealedSeed,
    matching_step,
    new_totp_secret,
    open_seed,
    provisioning_uri,
    seal_seed,
)
from entrusted.services.ports import UnitOfWork


class SecondFactor:
    def __init__(self, keyring: Callable[[], Keyring], required: bool) -> None:
        self._keyring = keyring
        self.required = required

    def new_seed(self, staff_id: str, username: str) -> tuple[bytes, str]:
        """A fresh seed, sealed for `staff_id`, and the otpauth:// URI an app loads it from."""
        secret = new_totp_secret()
        sealed = seal_seed(self._keyring(), staff_id, secret).to_bytes()
        return sealed, provisioning_uri(secret, username)

    def step(
        self, staff_id: str, sealed: bytes | None, code: str | None, after: int | None,
        now: datetime,
    ) -> int | None:  # fmt: skip
        """The time step `code` belongs to under the sealed seed, if later than `after`."""
        if sealed is None or not code:
            return None
        secret = open_seed(self._keyring(), staff_id, SealedSeed.from_bytes(sealed))
        return matching_step(secret, code, now.timestamp(), after)

    def rewrap(self, sealed: bytes | None) -> bytes | None:
        """`sealed` with its data key wrapped by the current master key (the same bytes if
        it already is): the seeds follow `entrusted keys rotate` like customers' keys."""
        if sealed is None:
            return None
        keyring = self._keyring()
        seed = SealedSeed.from_bytes(sealed)
        if seed.kek_id == keyring.current.kek_id:
            return sealed
        moved = rewrap(keyring, WrappedKey(seed.kek_id, seed.wrapped_key), keyring.current)
        return SealedSeed(moved.kek_id, moved.blob, seed.ciphertext).to_bytes()

    def use(self, uow: UnitOfWork, staff_id: str, code: str | None, now: datetime) -> bool:
        """Check `code` against the active seed and mark its step used, inside `uow` (the
        caller commits). False for a wrong, replayed or missing code, or no active seed."""
        step = self.step(
            staff_id, uow.staff.totp_seed(staff_id), code, uow.staff.totp_last_step(staff_id), now
        )
        return step is not None and uow.staff.use_totp_step(staff_id, step)
