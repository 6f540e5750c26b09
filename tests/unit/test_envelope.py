"""Envelope encryption: data keys wrapped by master keys, fields bound to customer and field,
and master key files that are private or refused."""

from __future__ import annotations

import base64
import doctest
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from entrusted.crypto import envelope
from entrusted.crypto.envelope import (
    KEY_SIZE,
    Keyring,
    MasterKey,
    WrappedKey,
    create_master_key_file,
    decrypt_field,
    encrypt_field,
    key_id,
    load_master_key_file,
    master_key_from_base64,
    new_data_key,
    rewrap,
    unwrap,
    wrap,
)
from entrusted.errors import Conflict, InvalidInput, TamperDetected, Unavailable

pytestmark = pytest.mark.promise("P2")

CUSTOMER = "cus_0000000000000001"
OTHER_CUSTOMER = "cus_0000000000000002"
EMAIL = "alice@example.com"


def test_docstrings_run() -> None:
    assert doctest.testmod(envelope).failed == 0


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext", ["alice@example.com", "", "Zoë Müller-SStraße 🙂", "x" * 5000]
)
def test_field_round_trips(plaintext: str) -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "last_name", plaintext)
    assert decrypt_field(dek, CUSTOMER, "last_name", blob) == plaintext


def test_ciphertext_layout_is_version_nonce_sealed() -> None:
    blob = encrypt_field(new_data_key(), CUSTOMER, "email", EMAIL)
    assert blob[0] == envelope.VERSION == 1
    assert len(blob) == 1 + 12 + len(EMAIL.encode()) + 16
    assert EMAIL.encode() not in blob


def test_same_plaintext_encrypts_differently_each_time() -> None:
    dek = new_data_key()
    first = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    second = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    assert first != second
    assert first[1:13] != second[1:13]  # fresh random nonce


def test_every_flipped_byte_is_detected() -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(TamperDetected):
            decrypt_field(dek, CUSTOMER, "email", bytes(tampered))


@pytest.mark.parametrize("cut", [0, 1, 13, 28, -1])
def test_truncated_or_extended_ciphertext_is_detected(cut: int) -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    with pytest.raises(TamperDetected):
        decrypt_field(dek, CUSTOMER, "email", blob[:cut])
    with pytest.raises(TamperDetected):
        decrypt_field(dek, CUSTOMER, "email", blob + b"\x00")


def test_ciphertext_moved_to_another_customer_fails() -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    with pytest.raises(TamperDetected) as info:
        decrypt_field(dek, OTHER_CUSTOMER, "email", blob)
    assert EMAIL not in str(info.value)
    assert OTHER_CUSTOMER in str(info.value)  # ids travel, details do not


def test_ciphertext_moved_to_another_field_fails() -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "phone", "+41440000000")
    with pytest.raises(TamperDetected):
        decrypt_field(dek, CUSTOMER, "mobile", blob)


def test_associated_data_is_unambiguous() -> None:
    # ("cus_1", "2email") and ("cus_12", "email") concatenate to the same text; the length
    # prefixes keep them apart.
    dek = new_data_key()
    blob = encrypt_field(dek, "cus_1", "2email", EMAIL)
    with pytest.raises(TamperDetected):
        decrypt_field(dek, "cus_12", "email", blob)


def test_wrong_data_key_fails() -> None:
    blob = encrypt_field(new_data_key(), CUSTOMER, "email", EMAIL)
    with pytest.raises(TamperDetected):
        decrypt_field(new_data_key(), CUSTOMER, "email", blob)


def test_unknown_version_is_refused() -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    with pytest.raises(TamperDetected, match="version 2"):
        decrypt_field(dek, CUSTOMER, "email", b"\x02" + blob[1:])


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_data_key_must_be_256_bits(size: int) -> None:
    with pytest.raises(InvalidInput) as info:
        encrypt_field(bytes(size), CUSTOMER, "email", EMAIL)
    assert info.value.field == "data key"


# --- wrapping ---------------------------------------------------------------------------------


def test_wrap_round_trips_and_names_its_master_key() -> None:
    kek = MasterKey.generate()
    dek = new_data_key()
    wrapped = wrap(kek, dek)
    assert wrapped.kek_id == kek.kek_id
    assert len(wrapped.blob) == 1 + KEY_SIZE + 8
    assert wrapped.blob[0] == 1
    assert dek not in wrapped.blob
    assert unwrap(Keyring(kek), wrapped) == dek


def test_wrap_is_rfc_3394_after_the_version_byte() -> None:
    kek, dek = MasterKey(bytes(range(32))), bytes(range(32, 64))
    assert wrap(kek, dek).blob == b"\x01" + aes_key_wrap(kek.material, dek)


def test_unwrap_with_an_unknown_master_key_is_unavailable() -> None:
    wrapped = wrap(MasterKey.generate(), new_data_key())
    other = MasterKey.generate()
    with pytest.raises(Unavailable) as info:
        unwrap(Keyring(other), wrapped)
    assert wrapped.kek_id in str(info.value)
    assert other.kek_id in str(info.value)


def test_tampered_wrapped_key_is_detected() -> None:
    kek = MasterKey.generate()
    wrapped = wrap(kek, new_data_key())
    for position in range(len(wrapped.blob)):
        tampered = bytearray(wrapped.blob)
        tampered[position] ^= 0x80
        with pytest.raises(TamperDetected):
            unwrap(Keyring(kek), WrappedKey(wrapped.kek_id, bytes(tampered)))
    with pytest.raises(TamperDetected):
        unwrap(Keyring(kek), WrappedKey(wrapped.kek_id, wrapped.blob[:-8]))


def test_wrapped_key_relabelled_with_another_kek_id_does_not_unwrap() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    wrapped = wrap(old, new_data_key())
    with pytest.raises(TamperDetected):
        unwrap(Keyring(new, [old]), WrappedKey(new.kek_id, wrapped.blob))


def test_rewrap_keeps_the_data_key_so_fields_still_decrypt() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    dek = new_data_key()
    blob = encrypt_field(dek, CUSTOMER, "email", EMAIL)
    moved = rewrap(Keyring(old), wrap(old, dek), new)
    assert moved.kek_id == new.kek_id
    assert decrypt_field(unwrap(Keyring(new), moved), CUSTOMER, "email", blob) == EMAIL


def test_keyring_unwraps_under_current_and_old_keys() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    ring = Keyring(new, [old])
    d1, d2 = new_data_key(), new_data_key()
    assert unwrap(ring, wrap(old, d1)) == d1
    assert unwrap(ring, wrap(new, d2)) == d2
    assert ring.kek_ids == {old.kek_id, new.kek_id}
    assert Keyring(new, [new, old]).kek_ids == {old.kek_id, new.kek_id}


def test_key_id_is_eight_hex_of_sha256() -> None:
    assert key_id(bytes(32)) == "66687aad"
    assert MasterKey(bytes(32)).kek_id == "66687aad"
    assert len(MasterKey.generate().kek_id) == 8


def test_master_key_repr_hides_the_key() -> None:
    kek = MasterKey(b"\xab" * 32)
    assert repr(kek) == f"MasterKey({kek.kek_id})"
    assert "ab" * 4 not in repr(kek).replace(kek.kek_id, "")
    assert "abab" not in repr(Keyring(kek)).replace(kek.kek_id, "")


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_master_key_must_be_256_bits(size: int) -> None:
    with pytest.raises(InvalidInput) as info:
        MasterKey(bytes(size))
    assert info.value.field == "master key"


# --- master key from the environment ------------------------------------------------------------


def test_master_key_from_base64() -> None:
    material = os.urandom(32)
    encoded = base64.b64encode(material).decode()
    assert master_key_from_base64(encoded).material == material
    assert master_key_from_base64(f"  {encoded}\n").material == material


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not base64!",
        base64.b64encode(bytes(16)).decode(),
        base64.b64encode(bytes(33)).decode(),
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # urlsafe alphabet is not standard
        "ü" * 44,
    ],
)
def test_bad_base64_master_key_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        master_key_from_base64(value)
    assert info.value.field == "master key"
    if value.strip():
        assert value not in str(info.value)


# --- master key files ---------------------------------------------------------------------------


def test_created_key_file_is_0600_and_loads_back(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        key = create_master_key_file(tmp_path / "master.key")
    finally:
        os.umask(old_umask)
    path = tmp_path / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key_file(path) == key
    assert path.read_text().startswith("entrusted-master-key-v1:")
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary left behind


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = create_master_key_file(path)
    with pytest.raises(Conflict):
        create_master_key_file(path)
    assert load_master_key_file(path) == first


def test_key_file_symlink_is_not_followed_or_replaced(tmp_path: Path) -> None:
    target = tmp_path / "target.key"
    create_master_key_file(target)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(Conflict):
        create_master_key_file(link)
    with pytest.raises(InvalidInput):
        load_master_key_file(link)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602, 0o610])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    create_master_key_file(path)
    path.chmod(mode)
    with pytest.raises(InvalidInput) as info:
        load_master_key_file(path)
    assert info.value.field == "master key"
    assert f"{mode:04o}" in str(info.value)
    assert "chmod 600" in str(info.value)


def test_missing_key_file_or_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_master_key_file(tmp_path / "absent.key")
    with pytest.raises(InvalidInput, match="does not exist"):
        create_master_key_file(tmp_path / "no-such-dir" / "master.key")


def test_key_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.key").mkdir(mode=0o700)
    with pytest.raises(InvalidInput):
        load_master_key_file(tmp_path / "dir.key")


def _private_file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe garbage",
        base64.b64encode(bytes(32)) + b"\n",  # bare key material without a label
        b"entrusted-index-key-v1:" + base64.b64encode(bytes(32)) + b"\n",  # the other key
        b"entrusted-master-key-v1:" + base64.b64encode(bytes(16)) + b"\n",
        b"entrusted-master-key-v1:" + b"A" * 2000,
    ],
)
def test_garbled_key_file_is_refused_without_echoing_it(tmp_path: Path, content: bytes) -> None:
    path = _private_file(tmp_path / "master.key", content)
    with pytest.raises(InvalidInput) as info:
        load_master_key_file(path)
    if content.strip():
        assert content.decode("ascii", "replace").split(":")[-1].strip() not in str(info.value)


def test_key_file_tolerates_a_missing_final_newline(tmp_path: Path) -> None:
    material = os.urandom(32)
    content = b"entrusted-master-key-v1:" + base64.b64encode(material)
    path = _private_file(tmp_path / "master.key", content)
    assert load_master_key_file(path).material == material
