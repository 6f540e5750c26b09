"""Sealing a backup archive (P15, P16): AES-256-GCM in authenticated chunks, a fresh data key
per archive wrapped by its day's key, and the day's key wrapped by the master key.

Why chunks: an archive is a stream of any size (a mailbox of gigabytes), and a single GCM
message can neither be streamed on reading (nothing may be written before the tag is checked)
nor exceed 64 GiB. Each chunk is its own GCM message whose associated data binds the archive id,
the chunk's index and whether it is the last one (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár), so a chunk altered, moved, dropped, repeated or cut off at the end is
detected and named by its index.

Format: ``MAGIC (8) || chunk size (u32)`` then chunks ``length (u32) || GCM(ciphertext || tag)``.
The nonce is the chunk index (96 bits): the data key is fresh for every archive, so no nonce
repeats under one key. ``AD = MAGIC || len(id) (u16) || id || index (u64) || final (u8)``.

Keys: the day's key wraps each archive's data key (AES-KW, as `envelope.wrap`); destroying the
day's key is what destroys the day's archives (crypto-shredding), whatever copy of the bytes
survives. Its public name is `key_id`, and `commitment` lets the ledger prove which key was
destroyed without revealing it.

```python
day_key = new_data_key(); dek = new_data_key()
sealer = ChunkSealer(dek, "bkp_1", sink)      # sink: anything with write(bytes)
sealer.write(b"..."); sealer.finish()
opened = ChunkOpener(dek, "bkp_1", source)     # source: anything with read(n)
opened.read()                                  # TamperDetected names a bad chunk
```
"""

from __future__ import annotations

import hashlib
import struct
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from entrusted.crypto.envelope import KEY_SIZE, TAG_SIZE, MasterKey, WrappedKey, unwrap, wrap
from entrusted.crypto.envelope import Keyring as _Keyring
from entrusted.errors import InvalidInput, TamperDetected

MAGIC = b"ENTBKP\x00\x01"
CHUNK_SIZE = 1 << 20  # 1 MiB of plaintext per chunk: small next to memory, large next to a tag
_HEADER = struct.Struct(">8sI")
_LENGTH = struct.Struct(">I")
_COMMITMENT_LABEL = b"entrusted-backup-day-key-v1"


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def commitment(key: bytes) -> str:
    """A public, binding name of a key: SHA-256 of it under a label (hex). Safe to publish: the
    key is 256 random bits."""
    return hashlib.sha256(_COMMITMENT_LABEL + key).hexdigest()


def wrap_archive_key(day_key: bytes, dek: bytes) -> WrappedKey:
    """An archive's data key wrapped by its day's key (labelled with the day key's id)."""
    return wrap(MasterKey(day_key), dek)


def unwrap_archive_key(day_key: bytes, wrapped: WrappedKey) -> bytes:
    """The archive's data key; TamperDetected if the wrapped bytes were altered or moved."""
    return unwrap(_Keyring(MasterKey(day_key)), wrapped)


def _nonce(index: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack(">Q", index)


def _associated(archive_id: str, index: int, final: bool) -> bytes:
    aid = archive_id.encode("utf-8")
    if not 0 < len(aid) <= 0xFFFF:
        raise InvalidInput("archive id", "must be 1-65535 bytes")
    return MAGIC + struct.pack(">H", len(aid)) + aid + struct.pack(">QB", index, int(final))


def _check_key(key: bytes) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise InvalidInput("data key", f"must be {KEY_SIZE} bytes, not {len(key)}")
    return AESGCM(key)


class ChunkSealer:
    """A write-only stream that seals what it is given into `sink`, chunk by chunk. Nothing is
    a valid archive until `finish` wrote the final chunk."""

    def __init__(self, dek: bytes, archive_id: str, sink: Sink, chunk_size: int = CHUNK_SIZE):
        self._aead = _check_key(dek)
        self._id = archive_id
        self._sink = sink
        self._size = chunk_size
        self._buf = bytearray()
        self.chunks = 0
        self.plain_bytes = 0
        self.sealed_bytes = 0
        self._finished = False
        self._put(_HEADER.pack(MAGIC, chunk_size))

    def write(self, data: bytes, /) -> int:
        if self._finished:
            raise ValueError("archive already finished")
        self._buf += data
        self.plain_bytes += len(data)
        # Keep at least one byte back: only `finish` knows which chunk is the last one.
        while len(self._buf) > self._size:
            self._seal(bytes(self._buf[: self._size]), final=False)
            del self._buf[: self._size]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a chunk is sealed only once it is full (or at `finish`)."""

    def finish(self) -> None:
        """Seal the rest as the final chunk (possibly empty)."""
        if not self._finished:
            self._seal(bytes(self._buf), final=True)
            self._buf.clear()
            self._finished = True

    def _seal(self, plain: bytes, final: bool) -> None:
        index = self.chunks
        sealed = self._aead.encrypt(_nonce(index), plain, _associated(self._id, index, final))
        self._put(_LENGTH.pack(len(sealed)) + sealed)
        self.chunks += 1

    def _put(self, data: bytes) -> None:
        self._sink.write(data)
        self.sealed_bytes += len(data)


class ChunkOpener:
    """A read-only stream of the plaintext of a sealed archive. Each chunk is authenticated
    before any of its bytes is returned; TamperDetected names the first chunk that does not
    open (altered, reordered, truncated or from another archive)."""

    def __init__(self, dek: bytes, archive_id: str, source: Source):
        self._aead = _check_key(dek)
        self._id = archive_id
        self._src = source
        header = self._exactly(_HEADER.size, "header")
        magic, size = _HEADER.unpack(header)
        if magic != MAGIC or not 0 < size <= 64 * CHUNK_SIZE:
            raise TamperDetected(f"archive {archive_id} has no valid header")
        self._max_sealed = size + TAG_SIZE
        self._index = 0
        self._next_len: int | None = self._length()
        self._buf = b""
        self._pos = 0  # what of `_buf` was already returned: no copy of the rest per read
        self._done = False
        self.chunks = 0

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            parts = [self._buf[self._pos :]]
            while not self._done:
                parts.append(self._open_next())
            self._buf, self._pos = b"", 0
            return b"".join(parts)
        while self._pos >= len(self._buf) and not self._done:
            self._buf, self._pos = self._open_next(), 0
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    def _open_next(self) -> bytes:
        length = self._next_len
        index = self._index
        if length is None:
            raise TamperDetected(f"archive {self._id} is truncated: chunk {index} is missing")
        if length > self._max_sealed or length < TAG_SIZE:
            raise TamperDetected(f"archive {self._id}: chunk {index} has an impossible length")
        sealed = self._exactly(length, f"chunk {index}")
        self._next_len = self._length()
        final = self._next_len is None  # the last chunk in the stream must say it is the last
        try:
            plain = self._aead.decrypt(_nonce(index), sealed, _associated(self._id, index, final))
        except InvalidTag:
            what = "truncated or altered" if final else "altered, moved or from another archive"
            raise TamperDetected(f"archive {self._id}: chunk {index} is {what}") from None
        self._index += 1
        self.chunks += 1
        self._done = final
        return plain

    def _length(self) -> int | None:
        raw = self._src.read(_LENGTH.size)
        if not raw:
            return None
        if len(raw) < _LENGTH.size:
            raise TamperDetected(f"archive {self._id} is truncated after chunk {self._index}")
        value: int = _LENGTH.unpack(raw)[0]
        return value

    def _exactly(self, n: int, what: str) -> bytes:
        parts = []
        left = n
        while left:
            got = self._src.read(left)
            if not got:
                raise TamperDetected(f"archive {self._id} is truncated in its {what}")
            parts.append(got)
            left -= len(got)
        return b"".join(parts)
