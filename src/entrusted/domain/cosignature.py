"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 v1) and the witness's request text
(C2SP tlog-witness `add-checkpoint`).

A witness is another party that remembers the largest tree it saw for our log and cosigns a
new checkpoint only when a consistency proof links the two. A customer who trusts k of n
witnesses then knows that the operator could not show them a history it did not also show the
witnesses, and could not roll it back later without those witnesses refusing. We use the
public formats unchanged so that any C2SP witness (litewitness, the Go witness) can serve us
and any note verifier can check our cosignatures. Only text and bytes live here; the Ed25519
arithmetic is in `entrusted.crypto.cosigning`.

>>> body = "example.com/log\\n2\\n" + "A" * 43 + "=\\n"
>>> cosigned_message(body, 7).decode().splitlines()[:2]
['cosignature/v1', 'time 7']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from entrusted.domain.checkpoint import MAX_NOTE_CHARS, b64decode_strict, b64encode

SIG_TYPE_COSIGNATURE_V1 = 0x04  # the key-ID algorithm byte of Ed25519 cosignatures
TIMESTAMP_SIZE = 8
ED25519_SIGNATURE_SIZE = 64
MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more
MAX_TIMESTAMP = (1 << 63) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


def cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    """What a v1 cosignature signs: header, time line, then the whole checkpoint body."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"cosignature timestamp {timestamp} out of range")
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


def split_timestamped(signature: bytes) -> tuple[int, bytes]:
    """(timestamp, Ed25519 signature) of a `timestamped_signature`; ValueError if malformed."""
    if len(signature) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
        raise ValueError("a v1 cosignature is an 8-byte time and a 64-byte signature")
    timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
    if timestamp > MAX_TIMESTAMP:
        raise ValueError("cosignature timestamp exceeds 2^63 - 1")
    return timestamp, signature[TIMESTAMP_SIZE:]


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An `add-checkpoint` request: the size the witness last cosigned (as the log believes),
    the consistency proof from there, and the signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def text(self) -> str:
        lines = [f"old {self.old_size}", *(b64encode(h) for h in self.proof)]
        return "\n".join(lines) + "\n\n" + self.note


def parse_add_checkpoint(text: str) -> AddCheckpoint:
    """The inverse of `AddCheckpoint.text`; ValueError on anything the spec does not allow."""
    if len(text) > MAX_NOTE_CHARS + (MAX_PROOF_LINES + 1) * 64:
        raise ValueError("request too large")
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise ValueError("no empty line between the old size and proof and the checkpoint")
    lines = head.split("\n")
    if not lines[0].startswith("old ") or not _DECIMAL.fullmatch(lines[0][4:]):
        raise ValueError("the first line must be `old <size>` in canonical decimal")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise ValueError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(b64decode_strict(line) for line in proof_lines)
    if any(len(h) != 32 for h in proof):
        raise ValueError("a consistency proof line is not a 32-byte hash")
    return AddCheckpoint(int(lines[0][4:]), proof, note)
