"""The sealed chunk stream of a backup archive (crypto/backup_chunks.py): it round-trips any
length, and an altered, reordered, dropped, truncated or transplanted chunk is detected and
named by its index before any of its bytes is released."""

from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrusted.crypto.backup_chunks import (
    ChunkOpener,
    ChunkSealer,
    commitment,
    unwrap_archive_key,
    wrap_archive_key,
)
from entrusted.crypto.envelope import new_data_key
from entrusted.errors import TamperDetected

pytestmark = pytest.mark.promise("P15")

SIZE = 64  # small chunks so a few hundred bytes make several of them
HEADER = 12


def seal(dek: bytes, data: bytes, archive_id: str = "bkp_1") -> bytes:
    out = io.BytesIO()
    sealer = ChunkSealer(dek, archive_id, out, chunk_size=SIZE)
    sealer.write(data)
    sealer.finish()
    return out.getvalue()


def chunks(blob: bytes) -> list[bytes]:
    """The framed chunks (length prefix included) after the header."""
    out, pos = [], HEADER
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos : pos + 4])
        out.append(blob[pos : pos + 4 + n])
        pos += 4 + n
    return out


def open_all(dek: bytes, blob: bytes, archive_id: str = "bkp_1") -> bytes:
    return ChunkOpener(dek, archive_id, io.BytesIO(blob)).read()


@given(st.binary(max_size=5 * SIZE + 3))
def test_any_length_round_trips(data: bytes) -> None:
    dek = bytes(range(32))
    assert open_all(dek, seal(dek, data)) == data


def test_an_altered_chunk_is_named() -> None:
    dek = new_data_key()
    blob = bytearray(seal(dek, os.urandom(4 * SIZE)))
    blob[HEADER + (4 + SIZE + 16) + 10] ^= 1  # inside chunk 1
    with pytest.raises(TamperDetected, match="chunk 1 is altered"):
        open_all(dek, bytes(blob))


def test_reordered_chunks_are_detected() -> None:
    dek = new_data_key()
    blob = seal(dek, os.urandom(4 * SIZE))
    parts = chunks(blob)
    swapped = blob[:HEADER] + parts[1] + parts[0] + b"".join(parts[2:])
    with pytest.raises(TamperDetected, match="chunk 0"):
        open_all(dek, swapped)


def test_truncation_is_detected_at_a_chunk_boundary_and_inside_one() -> None:
    dek = new_data_key()
    blob = seal(dek, os.urandom(4 * SIZE + 5))
    parts = chunks(blob)
    dropped_last = blob[:HEADER] + b"".join(parts[:-1])
    with pytest.raises(TamperDetected, match="truncated or altered"):
        open_all(dek, dropped_last)
    with pytest.raises(TamperDetected, match="truncated"):
        open_all(dek, blob[:-7])
    with pytest.raises(TamperDetected, match="truncated"):
        open_all(dek, blob[: HEADER + 2])


def test_a_chunk_from_another_archive_or_with_another_key_does_not_open() -> None:
    dek = new_data_key()
    blob = seal(dek, b"x" * 3 * SIZE, "bkp_1")
    with pytest.raises(TamperDetected, match="chunk 0"):
        open_all(dek, blob, "bkp_2")
    with pytest.raises(TamperDetected, match="chunk 0"):
        open_all(new_data_key(), blob)
    extra = blob + chunks(blob)[0]
    with pytest.raises(TamperDetected):
        open_all(dek, extra)


def test_the_day_key_wraps_each_archive_key_and_commits_to_itself() -> None:
    day, dek = new_data_key(), new_data_key()
    wrapped = wrap_archive_key(day, dek)
    assert unwrap_archive_key(day, wrapped) == dek
    with pytest.raises(TamperDetected):
        unwrap_archive_key(day, type(wrapped)(wrapped.kek_id, wrapped.blob[:-1] + b"\0"))
    assert commitment(day) != commitment(dek)
    assert len(commitment(day)) == 64
