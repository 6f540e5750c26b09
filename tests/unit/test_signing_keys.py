"""The log's keys over time (crypto/signing_keys.py) and the passphrase-sealed key backup
format (crypto/key_backup.py), on real files: who signs before, during and after a rollover,
verification against a key list, and a backup that opens only with its passphrase and only
as written."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entrusted.crypto.key_backup import (
    SCRYPT_N,
    BackedUpKey,
    KeyKind,
    describe,
    seal,
    unseal,
)
from entrusted.crypto.signing import NoteSigner, generate_key_file, log_origin, verify_note
from entrusted.crypto.signing_keys import (
    RollingSigner,
    history_path,
    load_log_signer,
    read_history,
    roll_signing_key,
)
from entrusted.domain.checkpoint import Checkpoint, parse_signed_note
from entrusted.errors import Conflict, InvalidInput, TamperDetected

pytestmark = pytest.mark.promise("P2", "P3")

ORIGIN = "audit.example.com/ledger"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CP = Checkpoint(ORIGIN, 7, bytes(32))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_without_a_rollover_the_first_key_signs_alone(tmp_path: Path) -> None:
    key = tmp_path / "ledger.key"
    vkey = generate_key_file(key, ORIGIN)
    signer = load_log_signer(key, Clock())
    assert isinstance(signer, NoteSigner)
    assert signer.key_list == vkey
    assert read_history(key) is None


def test_old_and_new_keys_sign_during_the_overlap_and_the_new_one_after(tmp_path: Path) -> None:
    key = tmp_path / "ledger.key"
    old = generate_key_file(key, ORIGIN)
    clock = Clock()
    rollover = roll_signing_key(key, NOW, NOW + timedelta(days=7))
    assert stat.S_IMODE(history_path(key).stat().st_mode) == 0o600
    assert stat.S_IMODE(rollover.key_path.stat().st_mode) == 0o600
    signer = load_log_signer(key, clock)
    assert isinstance(signer, RollingSigner)
    assert signer.key_list.splitlines() == [old, rollover.new_vkey]
    during = signer.sign_checkpoint(CP)
    assert len(parse_signed_note(during)[1]) == 2
    assert verify_note(during, old) == verify_note(during, rollover.new_vkey) == CP
    assert signer.vkey == old
    clock.now = NOW + timedelta(days=7)
    after = signer.sign_checkpoint(CP)
    assert len(parse_signed_note(after)[1]) == 1
    assert signer.vkey == rollover.new_vkey
    with pytest.raises(TamperDetected):
        verify_note(after, old)
    assert verify_note(after, signer.key_list) == CP
    with pytest.raises(Conflict, match="already announced"):
        roll_signing_key(key, NOW, NOW + timedelta(days=8))
    # After the switch the old private key may be destroyed; it stays listed.
    key.unlink()
    again = load_log_signer(key, clock)
    assert again.key_list == signer.key_list
    assert verify_note(again.sign_checkpoint(CP), again.key_list) == CP


def test_a_missing_key_that_must_sign_is_refused_at_load(tmp_path: Path) -> None:
    key = tmp_path / "ledger.key"
    generate_key_file(key, ORIGIN)
    rollover = roll_signing_key(key, NOW, NOW + timedelta(days=1))
    rollover.key_path.unlink()
    with pytest.raises(InvalidInput, match="missing"):
        load_log_signer(key, Clock())


def test_undo_takes_a_rollover_back(tmp_path: Path) -> None:
    key = tmp_path / "ledger.key"
    generate_key_file(key, ORIGIN)
    rollover = roll_signing_key(key, NOW, NOW)
    rollover.undo()
    assert not history_path(key).exists()
    assert not rollover.key_path.exists()
    assert isinstance(load_log_signer(key, Clock()), NoteSigner)


def test_a_key_list_verifies_by_key_id_and_names_one_log() -> None:
    a, b = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    stranger = NoteSigner.generate(ORIGIN)
    listed = f"{a.vkey}\n{b.vkey}\n"
    assert verify_note(a.sign_checkpoint(CP), listed) == CP
    assert verify_note(b.sign_checkpoint(CP), listed) == CP
    with pytest.raises(TamperDetected, match="no signature by"):
        verify_note(stranger.sign_checkpoint(CP), listed)
    assert log_origin(listed) == ORIGIN
    other = NoteSigner.generate("other.example.com/log")
    with pytest.raises(InvalidInput, match="different logs"):
        log_origin(f"{a.vkey}\n{other.vkey}")
    with pytest.raises(InvalidInput):
        verify_note(a.sign_checkpoint(CP), "\n")


KEYS = [
    BackedUpKey(KeyKind.MASTER, "66687aad", "master.key", b"entrusted-master-key-v1:AAAA\n"),
    BackedUpKey(KeyKind.SIGNING, "0a1b2c3d", "ledger.key", b"PRIVATE+KEY+x+y+z\n"),
]
PASSPHRASE = "correct horse battery staple"


def test_a_backup_opens_with_its_passphrase_only() -> None:
    sealed = seal(KEYS, PASSPHRASE, NOW)
    assert b"AAAA" not in sealed
    assert b"PRIVATE" not in sealed
    header = json.loads(sealed.split(b"\n")[1])
    assert header["kdf"]["n"] == SCRYPT_N >= 2**17
    assert [k["id"] for k in describe(sealed)] == ["66687aad", "0a1b2c3d"]
    opened = unseal(sealed, PASSPHRASE)
    assert opened.keys == tuple(KEYS)
    assert opened.created == NOW
    with pytest.raises(InvalidInput, match="wrong passphrase"):
        unseal(sealed, PASSPHRASE + "!")
    with pytest.raises(InvalidInput, match="at least 12"):
        seal(KEYS, "short", NOW)
    with pytest.raises(InvalidInput, match="not an Entrusted key backup"):
        unseal(b"hello\n", PASSPHRASE)


def _edit_header(sealed: bytes, change: dict[str, object]) -> bytes:
    magic, header, rest = sealed.split(b"\n", 2)
    parsed = {**json.loads(header), **change}
    return b"\n".join((magic, json.dumps(parsed, sort_keys=True).encode(), rest))


def test_an_altered_backup_is_tampering() -> None:
    sealed = seal(KEYS, PASSPHRASE, NOW)
    renamed = _edit_header(sealed, {"created": "2020-01-01T00:00:00+00:00"})
    with pytest.raises(TamperDetected, match="altered"):
        unseal(renamed, PASSPHRASE)
    magic, header, body = sealed.split(b"\n")[:3]
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 0x80
    flipped = b"\n".join((magic, header, base64.b64encode(bytes(raw)), b""))
    with pytest.raises(TamperDetected, match="altered"):
        unseal(flipped, PASSPHRASE)
    greedy = _edit_header(sealed, {"kdf": {**json.loads(header)["kdf"], "n": 2**30}})
    with pytest.raises(TamperDetected, match="parameters"):
        unseal(greedy, PASSPHRASE)
