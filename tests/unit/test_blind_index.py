"""Blind index: deterministic per key, equal for equivalent spellings, separate per kind, and
useless without its own key."""

from __future__ import annotations

import base64
import doctest
import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from faker import Faker

from entrusted.crypto import blind_index
from entrusted.crypto.blind_index import (
    INDEX_SIZE,
    create_index_key_file,
    email_index,
    index_key_from_base64,
    load_index_key_file,
    new_index_key,
    phone_index,
)
from entrusted.crypto.envelope import create_master_key_file
from entrusted.errors import Conflict, InvalidInput

pytestmark = pytest.mark.promise("P1", "P2")

KEY = bytes(range(32))


def test_docstrings_run() -> None:
    assert doctest.testmod(blind_index).failed == 0


def test_index_is_hmac_sha256_over_kind_and_canonical_value() -> None:
    expected = hmac.new(KEY, b"email\0alice@example.com", hashlib.sha256).digest()
    assert email_index(KEY, "alice@example.com") == expected
    expected = hmac.new(KEY, b"phone\0+41440000000", hashlib.sha256).digest()
    assert phone_index(KEY, "+41440000000") == expected


def test_index_is_deterministic_and_fixed_length() -> None:
    fake = Faker()
    Faker.seed(5)
    for _ in range(50):
        address = f"{fake.user_name()}@example.com"
        first, second = email_index(KEY, address), email_index(KEY, address)
        assert first == second
        assert len(first) == INDEX_SIZE == 32


@pytest.mark.parametrize(
    "spelling",
    ["Alice@Example.COM ", "  alice@example.com", "ALICE@EXAMPLE.COM", "alice@example.com."],
)
def test_equivalent_email_spellings_share_an_index(spelling: str) -> None:
    assert email_index(KEY, spelling) == email_index(KEY, "alice@example.com")


def test_different_values_have_different_indexes() -> None:
    assert email_index(KEY, "alice@example.com") != email_index(KEY, "alice@example.org")
    assert phone_index(KEY, "+41440000000") != phone_index(KEY, "+41440000001")


def test_kinds_never_collide() -> None:
    # A value both kinds would accept cannot exist, so compare the underlying HMACs directly:
    # the kind prefix alone must keep the same text apart.
    assert blind_index._index(KEY, b"email\0", "x") != blind_index._index(KEY, b"phone\0", "x")
    assert len(b"email\0") == len(b"phone\0")


def test_index_depends_on_the_key() -> None:
    other = new_index_key()
    assert email_index(KEY, "alice@example.com") != email_index(other, "alice@example.com")
    assert phone_index(KEY, "+41440000000") != phone_index(other, "+41440000000")
    # and it is not a plain hash an attacker could recompute without the key
    plain = hashlib.sha256(b"email\0alice@example.com").digest()
    assert email_index(KEY, "alice@example.com") != plain


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("044 000 00 00", "phone"),  # national form: the adapter must normalise it first
        ("+41 44 000 00 00", "phone"),
        ("0041440000000", "phone"),
        ("alice@bücher.example", "email"),  # Unicode domain: IDNA happens in the adapter
        ("not an address", "email"),
        ("a@localhost", "email"),
    ],
)
def test_non_canonical_input_is_refused_not_guessed(value: str, kind: str) -> None:
    index = email_index if kind == "email" else phone_index
    with pytest.raises(InvalidInput) as info:
        index(KEY, value)
    assert info.value.field == kind


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_index_key_must_be_256_bits(size: int) -> None:
    with pytest.raises(InvalidInput) as info:
        email_index(bytes(size), "alice@example.com")
    assert info.value.field == "index key"


def test_index_key_file_is_private_and_distinct_from_the_master_key(tmp_path: Path) -> None:
    key = create_index_key_file(tmp_path / "index.key")
    assert stat.S_IMODE((tmp_path / "index.key").stat().st_mode) == 0o600
    assert load_index_key_file(tmp_path / "index.key") == key
    with pytest.raises(Conflict):
        create_index_key_file(tmp_path / "index.key")
    create_master_key_file(tmp_path / "master.key")
    with pytest.raises(InvalidInput, match="entrusted-index-key-v1") as info:
        load_index_key_file(tmp_path / "master.key")
    assert info.value.field == "index key"


def test_index_key_from_base64() -> None:
    assert index_key_from_base64(base64.b64encode(KEY).decode()) == KEY
    with pytest.raises(InvalidInput):
        index_key_from_base64(base64.b64encode(bytes(8)).decode())
