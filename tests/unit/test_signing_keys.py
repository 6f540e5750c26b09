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

from entrusted.crypto import signing_keys
from entrusted.crypto.key_backup import (
    SCRYPT_N,
    BackedUpKey,
    KeyKind,
    describe,
    seal,
    unseal,
)
from entrusted.crypto.signing import (
    ListedKey,
    NoteSigner,
    generate_key_file,
    key_list,
    log_origin,
    parse_key_list,
    verify_note,
)
from entrusted.crypto.signing_keys import (
    RollingSigner,
    history_path,
    load_log_signer,
    read_history,
    roll_signing_key,
)
from entrusted.domain.checkpoint import (
    Checkpoint,
    format_signed_note,
    parse_signed_note,
    parse_vkey,
)
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
    assert isinstance(signer.current, NoteSigner)
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
    assert isinstance(signer.current, RollingSigner)
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
    # The first checkpoint the new key signed alone retired the old key at its size.
    assert signer.key_list.splitlines() == [f"{old} until=7", rollover.new_vkey]
    assert [p.until for p in read_history(key) or []] == [7, None]
    assert verify_note(during, signer.key_list) == CP  # what the old key signed still verifies
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
    assert isinstance(load_log_signer(key, Clock()).current, NoteSigner)


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


def test_a_retired_key_alone_cannot_sign_past_its_until() -> None:
    old, new = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    listed = f"{old.vkey} until=7\n{new.vkey}\n"
    assert verify_note(old.sign_checkpoint(CP), listed) == CP  # size 7: what it signed
    small = Checkpoint(ORIGIN, 3, bytes(32))
    assert verify_note(old.sign_checkpoint(small), listed) == small
    later = Checkpoint(ORIGIN, 8, bytes(32))
    with pytest.raises(TamperDetected, match="retired at size 7"):
        verify_note(old.sign_checkpoint(later), listed)
    text = later.body()
    both = format_signed_note(text, [old.signature(text), new.signature(text)])
    assert verify_note(both, listed) == later  # the current key vouches for it
    assert verify_note(new.sign_checkpoint(later), listed) == later
    assert key_list(listed) == (old.vkey, new.vkey)
    assert log_origin(listed) == ORIGIN
    for bad in (f"{old.vkey} until=x", f"{old.vkey} since=3", f"{old.vkey} until=1 x"):
        with pytest.raises(InvalidInput):
            verify_note(old.sign_checkpoint(CP), bad)


def test_a_one_key_list_is_a_plain_vkey() -> None:
    key = NoteSigner.generate(ORIGIN)
    assert key.key_list == key.vkey
    assert parse_key_list(key.vkey + "\n") == (ListedKey(key.vkey, None),)
    big = Checkpoint(ORIGIN, 10**9, bytes(32))
    assert verify_note(key.sign_checkpoint(big), key.vkey) == big


def test_a_running_signer_follows_a_rollover_and_retires_the_old_key(tmp_path: Path) -> None:
    key = tmp_path / "ledger.key"
    old = generate_key_file(key, ORIGIN)
    clock = Clock()
    signer = load_log_signer(key, clock)  # started before the rollover, never restarted
    assert signer.key_list == old
    rollover = roll_signing_key(key, NOW, NOW + timedelta(days=1))  # another process
    during = signer.sign_checkpoint(Checkpoint(ORIGIN, 5, bytes(32)))
    assert len(parse_signed_note(during)[1]) == 2  # it co-signs with the announced key
    clock.now = NOW + timedelta(days=1)
    after = signer.sign_checkpoint(Checkpoint(ORIGIN, 9, bytes(32)))
    assert [s.key_id for s in parse_signed_note(after)[1]] == [
        parse_vkey(rollover.new_vkey).key_id
    ]
    published = load_log_signer(key, clock).key_list  # what a restarted process publishes
    assert published.splitlines() == [f"{old} until=9", rollover.new_vkey]
    assert verify_note(during, published).size == 5
    assert verify_note(after, published).size == 9


def test_a_signer_that_cannot_record_the_retirement_signs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "ledger.key"
    generate_key_file(key, ORIGIN)
    clock = Clock()
    roll_signing_key(key, NOW, NOW + timedelta(days=1))
    signer = load_log_signer(key, clock)
    clock.now = NOW + timedelta(days=1)

    def disk_full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(signing_keys, "_replace_private", disk_full)
    with pytest.raises(OSError, match="No space"):
        signer.sign_checkpoint(CP)
    assert [p.until for p in read_history(key) or []] == [None, None]
    monkeypatch.undo()
    assert verify_note(signer.sign_checkpoint(CP), signer.key_list) == CP
    assert [p.until for p in read_history(key) or []] == [7, None]


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

def test_a_scrypt_cost_that_is_not_a_power_of_two_is_tampering() -> None:
    sealed = seal(KEYS, PASSPHRASE, NOW)
    kdf = json.loads(sealed.split(b"\n")[1])["kdf"]
    odd = _edit_header(sealed, {"kdf": {**kdf, "n": 2**17 + 1}})
    with pytest.raises(TamperDetected, match="power of two"):
        unseal(odd, PASSPHRASE)


def test_describe_without_a_key_list_is_tampering() -> None:
    sealed = seal(KEYS, PASSPHRASE, NOW)
    magic, header, rest = sealed.split(b"\n", 2)
    stripped = {k: v for k, v in json.loads(header).items() if k != "keys"}
    no_list = b"\n".join((magic, json.dumps(stripped).encode(), rest))
    with pytest.raises(TamperDetected, match="no key list"):
        describe(no_list)
    with pytest.raises(TamperDetected):
        unseal(no_list, PASSPHRASE)


def test_the_passphrase_is_nfc_normalised() -> None:
    composed = "caf\u00e9 correct horse battery"  # é as one code point
    decomposed = "cafe\u0301 correct horse battery"  # e + combining acute accent
    assert composed != decomposed
    sealed = seal(KEYS, decomposed, NOW)
    assert unseal(sealed, composed).keys == tuple(KEYS)
    with pytest.raises(InvalidInput, match="wrong passphrase"):
        unseal(sealed, "cafe correct horse battery")
