"""Checkpoint signing, verification and the key file, checked against Go vectors and tlog-scales."""

from __future__ import annotations

import base64
import doctest
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrusted.crypto import signing as signing_module
from entrusted.crypto.signing import NoteSigner, generate_key_file, load_signer, verify_note
from entrusted.domain.checkpoint import Checkpoint, format_signed_note, parse_signed_note
from entrusted.errors import Conflict, InvalidInput, TamperDetected
from tests.conftest import require_module

pytestmark = pytest.mark.promise("P3")

# golang.org/x/mod/sumdb/note note_test.go: a private key, its vkey and a signature it made.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNED = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_SEED = base64.b64decode(GO_SKEY.split("+", 4)[4])[1:]

ORIGIN = "audit.example.com/staff-access"
CP = Checkpoint(ORIGIN, 70_000, hashlib.sha256(b"some root").digest())


@pytest.fixture(scope="module")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


def write_key(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


# --- Known answers -----------------------------------------------------------------------------


def test_go_key_signs_exactly_like_go() -> None:
    peter = NoteSigner.from_seed("PeterNeumann", GO_SEED)
    assert peter.vkey == GO_VKEY
    assert peter.key_id.hex() == "c74f20a3"
    assert peter.sign_note(GO_TEXT) == GO_SIGNED


def test_go_key_file_loads(tmp_path: Path) -> None:
    peter = load_signer(write_key(tmp_path / "peter.key", GO_SKEY + "\n"))
    assert peter.name == "PeterNeumann"
    assert peter.vkey == GO_VKEY
    assert peter.sign_note(GO_TEXT) == GO_SIGNED


# --- Signing and verifying checkpoints ---------------------------------------------------------


def test_round_trip(signer: NoteSigner) -> None:
    note = signer.sign_checkpoint(CP)
    assert note.startswith(CP.body() + "\n\u2014 " + ORIGIN + " ")
    assert verify_note(note, signer.vkey) == CP
    assert verify_note(note, signer.vkey, origin=ORIGIN) == CP
    body, sigs = parse_signed_note(note)
    assert body == CP.body()
    assert [(s.name, s.key_id, len(s.signature)) for s in sigs] == [(ORIGIN, signer.key_id, 64)]
    assert len(signer.public_key_bytes) == 32


def test_wrong_origin_is_tampering(signer: NoteSigner) -> None:
    with pytest.raises(TamperDetected, match="origin"):
        verify_note(signer.sign_checkpoint(CP), signer.vkey, origin="other.example.com/log")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n70000\n", "\n70001\n"),
        (ORIGIN + "\n", "audit.example.org/staff-access\n"),
        ("=\n\n", "=\nextension\n\n"),
    ],
)
def test_tampered_body_is_detected(signer: NoteSigner, old: str, new: str) -> None:
    note = signer.sign_checkpoint(CP)
    assert old in note
    with pytest.raises(TamperDetected, match="bad signature"):
        verify_note(note.replace(old, new, 1), signer.vkey)


def resign_line(note: str, mutate: bytes) -> str:
    body, sigs = parse_signed_note(note)
    sig = sigs[0]
    bad = bytes(a ^ b for a, b in zip(sig.signature, mutate.ljust(64, b"\0"), strict=True))
    return format_signed_note(body, [(sig.name, sig.key_id + bad)])


@pytest.mark.parametrize("flip", [b"\x01", b"\0" * 63 + b"\x80", b"\xff" * 64])
def test_tampered_signature_is_detected(signer: NoteSigner, flip: bytes) -> None:
    with pytest.raises(TamperDetected, match="bad signature"):
        verify_note(resign_line(signer.sign_checkpoint(CP), flip), signer.vkey)


def test_truncated_signature_is_detected(signer: NoteSigner) -> None:
    body, sigs = parse_signed_note(signer.sign_checkpoint(CP))
    short = format_signed_note(body, [(ORIGIN, sigs[0].key_id + sigs[0].signature[:63])])
    with pytest.raises(TamperDetected):
        verify_note(short, signer.vkey)


def test_other_key_is_not_enough(signer: NoteSigner) -> None:
    impostor = NoteSigner.generate(ORIGIN)  # same name, different key, so a different key ID
    with pytest.raises(TamperDetected, match="no signature by"):
        verify_note(impostor.sign_checkpoint(CP), signer.vkey)


def test_unknown_signatures_are_ignored(signer: NoteSigner) -> None:
    """Witness cosignatures and rotated keys must not break verification, in any order."""
    ours = parse_signed_note(signer.sign_checkpoint(CP))[1][0]
    witness = NoteSigner.generate("witness.example.com")
    theirs = parse_signed_note(witness.sign_checkpoint(CP))[1][0]
    same_name_other_id = (ORIGIN, b"\0\0\0\0" + b"x" * 64)
    same_id_other_name = ("other.example.com", ours.key_id + b"y" * 64)
    lines = [
        same_name_other_id,
        (theirs.name, theirs.key_id + theirs.signature),
        same_id_other_name,
        (ours.name, ours.key_id + ours.signature),
    ]
    for order in (lines, lines[::-1]):
        assert verify_note(format_signed_note(CP.body(), order), signer.vkey) == CP
    assert verify_note(format_signed_note(CP.body(), lines), witness.vkey) == CP
    with pytest.raises(TamperDetected, match="no signature"):
        verify_note(format_signed_note(CP.body(), lines[:3]), signer.vkey)


def test_signed_text_that_is_not_a_checkpoint_is_rejected() -> None:
    with pytest.raises(TamperDetected, match="not a checkpoint"):
        verify_note(GO_SIGNED, GO_VKEY)


@pytest.mark.parametrize("note", ["", "garbage", CP.body(), CP.body() + "\n"])
def test_malformed_note_is_tampering(signer: NoteSigner, note: str) -> None:
    with pytest.raises(TamperDetected, match="malformed"):
        verify_note(note, signer.vkey)


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "not a vkey",
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # type 0x65
    ],
)
def test_bad_vkey_is_invalid_input(signer: NoteSigner, vkey: str) -> None:
    with pytest.raises(InvalidInput) as info:
        verify_note(signer.sign_checkpoint(CP), vkey)
    assert info.value.field == "ledger vkey"


def test_signer_rejects_bad_names() -> None:
    with pytest.raises(ValueError, match="key name"):
        NoteSigner.generate("has space")


# --- Key files ---------------------------------------------------------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("permissive_umask")
def test_generate_key_file_is_private_and_loadable(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    vkey = generate_key_file(path, ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith(f"PRIVATE+KEY+{ORIGIN}+")
    assert Path(f"{path}.pub").read_text() == vkey + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.key", "ledger.key.pub"]
    loaded = load_signer(path)
    assert loaded.vkey == vkey
    assert loaded.name == ORIGIN
    assert verify_note(loaded.sign_checkpoint(CP), vkey) == CP


def test_generate_key_file_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    vkey = generate_key_file(path, ORIGIN)
    before = path.read_bytes()
    with pytest.raises(Conflict, match="refusing to overwrite"):
        generate_key_file(path, ORIGIN)
    assert path.read_bytes() == before
    assert load_signer(path).vkey == vkey
    dangling = tmp_path / "dangling.key"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(Conflict):
        generate_key_file(dangling, ORIGIN)
    assert not (tmp_path / "nowhere").exists()


def test_generate_key_file_validates_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        generate_key_file(tmp_path / "k", "a+b")
    assert info.value.field == "ledger key name"
    with pytest.raises(InvalidInput, match="does not exist"):
        generate_key_file(tmp_path / "missing" / "k", ORIGIN)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o007])
def test_load_signer_refuses_a_readable_key(tmp_path: Path, mode: int) -> None:
    path = write_key(tmp_path / "ledger.key", GO_SKEY + "\n", mode)
    with pytest.raises(InvalidInput) as info:
        load_signer(path)
    assert info.value.field == "ledger key"
    assert f"{mode:04o}" in info.value.message
    assert "chmod 600" in info.value.message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_load_signer_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    assert load_signer(write_key(tmp_path / "k", GO_SKEY, mode)).vkey == GO_VKEY


SECRET_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "\n",
        GO_SKEY + "\n\n",
        GO_SKEY.replace("PRIVATE+KEY+", ""),
        GO_SKEY.replace("c74f20a3", "c74f20a4"),  # key ID does not match the key
        GO_SKEY.replace("PeterNeumann", "PaulNeumann"),
        GO_SKEY[:-4],
        GO_SKEY.replace("+AYEK", "+AoEK"),  # type byte 0x02
        GO_SKEY + "AAAA",
        "PRIVATE+KEY+Peter Neumann+c74f20a3+" + SECRET_B64,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        "x" * 5000,
    ],
)
def test_load_signer_rejects_garbled_files_without_echoing_them(
    tmp_path: Path, content: str
) -> None:
    path = write_key(tmp_path / "ledger.key", content)
    with pytest.raises(InvalidInput) as info:
        load_signer(path)
    assert info.value.field == "ledger key"
    assert SECRET_B64 not in str(info.value)
    assert SECRET_B64[:12] not in str(info.value)


def test_load_signer_rejects_binary_without_echoing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    path.write_bytes(b"PRIVATE+KEY+\xff\xfe secret")
    path.chmod(0o600)
    with pytest.raises(InvalidInput) as info:
        load_signer(path)
    assert "0xff" not in str(info.value)
    assert info.value.__cause__ is None


def test_load_signer_missing_symlinked_or_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_signer(tmp_path / "absent.key")
    real = write_key(tmp_path / "real.key", GO_SKEY)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(InvalidInput):
        load_signer(link)
    (tmp_path / "dir.key").mkdir(mode=0o700)
    with pytest.raises(InvalidInput, match="not a regular file"):
        load_signer(tmp_path / "dir.key")


def test_docstring_examples() -> None:
    assert doctest.testmod(signing_module).failed == 0


# --- Interop with tlog-scales (the C2SP reference we test against) ------------------------------


def test_tlog_scales_signs_identically_and_accepts_our_notes() -> None:
    tlog = require_module("tlog_scales.tlog")
    ts = require_module("tlog_scales.signing")
    seed = hashlib.sha256(b"interop seed").digest()
    ours = NoteSigner.from_seed(ORIGIN, seed)
    theirs = ts.PlainEd25519Signer(ORIGIN, seed)
    assert theirs.vkey.serialize() == ours.vkey
    assert ts.Vkey.from_string(ours.vkey).serialize() == ours.vkey
    their_note = tlog.Checkpoint.make_signed(CP.origin, CP.size, CP.root, [theirs]).serialize()
    our_note = ours.sign_checkpoint(CP)
    assert our_note == their_note  # Ed25519 is deterministic: byte-identical notes
    parsed = tlog.Checkpoint.from_text(our_note)
    assert (parsed.origin, parsed.size, parsed.root_hash) == (CP.origin, CP.size, CP.root)
    parsed.verify(ts.Vkey.from_string(ours.vkey))  # raises on failure
    assert verify_note(their_note, theirs.vkey.serialize()) == CP


def test_ml_dsa_witness_cosignature_is_ignored_but_valid_for_tlog_scales() -> None:
    tlog = require_module("tlog_scales.tlog")
    ts = require_module("tlog_scales.signing")
    ours = NoteSigner.from_seed(ORIGIN, hashlib.sha256(b"log").digest())
    witness = ts.MLDSA44CosignatureSigner("witness.example.com", hashlib.sha256(b"w").digest())
    log_signer = ts.PlainEd25519Signer(ORIGIN, hashlib.sha256(b"log").digest())
    note = tlog.Checkpoint.make_signed(
        CP.origin, CP.size, CP.root, [witness, log_signer]
    ).serialize()
    assert verify_note(note, ours.vkey) == CP
    _, sigs = parse_signed_note(note)
    assert [s.name for s in sigs] == ["witness.example.com", ORIGIN]
    valid = ts.VkeySet(witness.vkey, log_signer.vkey).verify(
        tlog.Checkpoint.from_text(note).signatures, tlog.Checkpoint.from_text(note)
    )
    assert len(valid) == 2
