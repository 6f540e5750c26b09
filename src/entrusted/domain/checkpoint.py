"""The text formats of signed tree heads: C2SP tlog-checkpoint inside a C2SP signed note.

We publish tree heads in the format witnesses, `tlog-scales` and Go's sumdb/note already
verify, so customers need none of our code to check them. The formats are parsed strictly,
because a note is the thing a customer compares byte for byte: two spellings of one tree head
would let a dishonest log show different texts to different people. The parsers also cap
sizes so that hostile input costs little. Signing is in `entrusted.crypto.signing`; this module
only knows the text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

SIG_TYPE_ED25519 = 0x01
KEY_ID_SIZE = 4
MAX_SIGNATURES = 100  # the spec demands at least 16; Go's sumdb/note allows 100
MAX_NOTE_CHARS = 1 << 20
_MAX_SIZE = (1 << 64) - 1
_DASH = "\u2014"  # em dash that opens every signature line
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, accepting only the canonical spelling of each value."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("not base64") from exc
    if b64encode(data) != text:
        raise ValueError("not canonical base64")
    return data


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates cannot be part of a real note
        raise ValueError("note is not valid UTF-8") from exc


def check_key_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces, '+' or control characters."""
    if not name or any(ch.isspace() or ch == "+" or ord(ch) < 0x20 for ch in name):
        raise ValueError(f"invalid note key name {name!r}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: `size` leaves with Merkle root `root`, in the log named `origin`.

    >>> cp = Checkpoint("example.com/log", 2, bytes(32))
    >>> parse_checkpoint_body(cp.body()) == cp
    True
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()  # opaque extra lines; NOT RECOMMENDED, kept for fidelity

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not line or "\n" in line or _has_control(line):
                raise ValueError(f"invalid checkpoint line {line!r}")
            _check_utf8(line)
        if type(self.size) is not int or not 0 <= self.size <= _MAX_SIZE:
            raise ValueError(f"invalid tree size {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise ValueError("root must be 32 bytes")

    def body(self) -> str:
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint_body(text: str) -> Checkpoint:
    """The inverse of `Checkpoint.body`; ValueError unless `text` is exactly such a body."""
    if len(text) > MAX_NOTE_CHARS or not text.endswith("\n"):
        raise ValueError("a checkpoint body is newline-terminated lines")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError("a checkpoint body has origin, size and root lines")
    origin, size, root, *extensions = lines
    if not _DECIMAL.fullmatch(size):
        raise ValueError("tree size is not a canonical decimal")
    root_bytes = b64decode_strict(root)
    return Checkpoint(origin, int(size), root_bytes, tuple(extensions))


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], as signed-note recommends."""
    if not 0 <= key_type <= 0xFF:
        raise ValueError(f"signature type {key_type} is not a byte")
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()
    return digest[:KEY_ID_SIZE]


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: who signed (`name`, `key_id`) and the algorithm's output."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH} {self.name} {b64encode(self.key_id + self.signature)}\n"


def format_signed_note(body: str, signatures: Sequence[tuple[str, bytes]]) -> str:
    """`body`, a blank line, then one line per (key name, key ID || signature)."""
    _check_note_text(body)
    if not 1 <= len(signatures) <= MAX_SIGNATURES:
        raise ValueError(f"a note carries 1 to {MAX_SIGNATURES} signatures")
    out = [body, "\n"]
    for name, blob in signatures:
        check_key_name(name)
        if len(blob) <= KEY_ID_SIZE:
            raise ValueError("signature blob must hold a 4-byte key ID and a signature")
        out.append(f"{_DASH} {name} {b64encode(blob)}\n")
    return "".join(out)


def _check_note_text(text: str) -> None:
    if not text.endswith("\n") or _has_control(text):
        raise ValueError("note text must end in a newline and contain no control characters")
    _check_utf8(text)


def parse_signed_note(text: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines; nothing is verified here.

    The text ends at the last blank line; ValueError on anything the spec does not allow.
    """
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError("note too large")
    _check_note_text(text)
    split = text.rfind("\n\n")
    if split < 0:
        raise ValueError("note has no blank line before its signatures")
    body, sig_lines = text[: split + 1], text[split + 2 : -1].split("\n")
    if not 1 <= len(sig_lines) <= MAX_SIGNATURES:
        raise ValueError(f"a note carries 1 to {MAX_SIGNATURES} signatures")
    signatures = []
    for line in sig_lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise ValueError("malformed signature line")
        _, name, encoded = parts
        check_key_name(name)
        blob = b64decode_strict(encoded)
        if len(blob) <= KEY_ID_SIZE:
            raise ValueError("signature too short")
        signatures.append(NoteSignature(name, blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:]))
    return body, signatures


class VerifierKey(NamedTuple):
    """A parsed vkey: the public half of a note key, as published to verifiers."""

    name: str
    key_id: bytes
    key_type: int
    public_key: bytes


def format_vkey(name: str, key_type: int, public_key: bytes) -> str:
    """`<name>+<hex key ID>+<base64(type || public key)>`, the sumdb/note verifier key text."""
    check_key_name(name)
    kid = key_id(name, key_type, public_key)
    return f"{name}+{kid.hex()}+{b64encode(bytes([key_type]) + public_key)}"


_KEY_HEX = re.compile(r"[0-9a-f]{8}")


def parse_vkey(text: str) -> VerifierKey:
    """The inverse of `format_vkey`; ValueError if malformed or the key ID does not match."""
    parts = text.split("+", 2)  # base64 may itself contain '+'
    if len(parts) != 3 or not _KEY_HEX.fullmatch(parts[1]):
        raise ValueError("a vkey is <name>+<8 hex digits>+<base64>")
    name, kid_hex, encoded = parts
    check_key_name(name)
    payload = b64decode_strict(encoded)
    if len(payload) < 2:
        raise ValueError("vkey has no public key")
    key_type, public_key = payload[0], payload[1:]
    if key_type == SIG_TYPE_ED25519 and len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    kid = bytes.fromhex(kid_hex)
    if key_id(name, key_type, public_key) != kid:
        raise ValueError("vkey key ID does not match its name and key")
    return VerifierKey(name, kid, key_type, public_key)


# --- the signed local record ---------------------------------------------------------------

_RECORD_HEADER = "entrusted ledger local record v1"


@dataclass(frozen=True, slots=True)
class LocalRecord:
    """What this installation last signed and last verified, kept outside the database.

    Someone with only database access can delete checkpoints and truncate the log; they cannot
    change this file without the signing key. So the signer refuses any head inconsistent with
    `signed_size`/`signed_root`, and start-up verifies only entries from `verified_size` on,
    resuming the tree from `verified_hashes` (its compact range there) and the checkpoints from
    row `checkpoints_checked`. Its body is not a checkpoint (its second line is no size), so
    the signature can never be passed off as a signed tree head.

    >>> r = LocalRecord("example.com/log", 2, bytes(32), 2, (bytes(32),), 1)
    >>> parse_local_record(r.body()) == r
    True
    """

    origin: str
    signed_size: int
    signed_root: bytes
    verified_size: int
    verified_hashes: tuple[bytes, ...]
    checkpoints_checked: int

    def body(self) -> str:
        hashes = " ".join(b64encode(h) for h in self.verified_hashes)
        return (
            f"{_RECORD_HEADER}\n{self.origin}\n"
            f"signed {self.signed_size} {b64encode(self.signed_root)}\n"
            f"verified {self.verified_size} {self.checkpoints_checked} {hashes}".rstrip()
            + "\n"
        )


def parse_local_record(text: str) -> LocalRecord:
    """The inverse of `LocalRecord.body`; ValueError on anything else."""
    lines = text.split("\n")
    if len(lines) != 5 or lines[0] != _RECORD_HEADER or lines[4] != "":
        raise ValueError("not a local ledger record")
    signed, verified = lines[2].split(" "), lines[3].split(" ")
    if len(signed) != 3 or signed[0] != "signed" or len(verified) < 3 or verified[0] != "verified":
        raise ValueError("not a local ledger record")
    numbers = (signed[1], verified[1], verified[2])
    if not all(_DECIMAL.fullmatch(n) for n in numbers):
        raise ValueError("record sizes are not canonical decimals")
    hashes = tuple(b64decode_strict(h) for h in verified[3:])
    size = int(verified[1])
    if len(hashes) != size.bit_count() or any(len(h) != 32 for h in hashes):
        raise ValueError("record's compact range does not fit its size")
    root = b64decode_strict(signed[2])
    if len(root) != 32:
        raise ValueError("record's signed root is not 32 bytes")
    return LocalRecord(lines[1], int(signed[1]), root, size, hashes, int(verified[2]))
