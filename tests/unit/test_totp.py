"""TOTP codes count once per time step; sealed seeds open only for the member they were
sealed for, under a key on the ring."""

from __future__ import annotations

import pytest

from entrusted.crypto.envelope import Keyring, MasterKey
from entrusted.crypto.totp import (
    SealedSeed,
    current_code,
    matching_step,
    new_totp_secret,
    open_seed,
    seal_seed,
)
from entrusted.errors import TamperDetected, Unavailable

pytestmark = pytest.mark.promise("P2")

NOW = 1_795_000_000.0


def test_a_code_matches_its_step_once_and_never_an_earlier_one() -> None:
    secret = new_totp_secret()
    code = current_code(secret, NOW)
    step = matching_step(secret, code, NOW, None)
    assert step == int(NOW) // 30
    assert matching_step(secret, code, NOW, step) is None  # replayed
    assert matching_step(secret, code, NOW + 30, None) == step  # one step of drift is fine
    assert matching_step(secret, code, NOW + 90, None) is None  # too old
    assert matching_step(secret, "12a456", NOW, None) is None


def test_a_sealed_seed_opens_only_for_its_member_and_key() -> None:
    ring = Keyring(MasterKey.generate())
    secret = new_totp_secret()
    sealed = SealedSeed.from_bytes(seal_seed(ring, "stf_a", secret).to_bytes())
    assert open_seed(ring, "stf_a", sealed) == secret
    assert secret.encode() not in sealed.to_bytes()
    with pytest.raises(TamperDetected):
        open_seed(ring, "stf_b", sealed)  # moved to another member's row
    with pytest.raises(Unavailable):
        open_seed(Keyring(MasterKey.generate()), "stf_a", sealed)
    with pytest.raises(TamperDetected):
        SealedSeed.from_bytes(sealed.to_bytes()[:20])
