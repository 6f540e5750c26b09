"""The bottom of a full verification: a chunk of entries against their stored level-0 tiles.

Split out of the verifier so that a second process can check a share of the log the same way
(`ledger_verify_share`): this is where nearly all the time of a verification goes, one leaf
hash and one filing check per entry, and the only part that splits cleanly, since a chunk of
whole tiles needs nothing from the chunks before it. Nothing runs per entry in Python but the
leaf hash in a list comprehension; the rare slow paths (which byte differs, and whether the
entry or the tile changed) run only on failure.
"""

from __future__ import annotations

import hashlib

from entrusted.adapters.db.ledger_scan import Row, SnapshotReader
from entrusted.domain.audit import first_misfiled
from entrusted.domain.ledger import HASH_SIZE, TILE_HEIGHT, TILE_WIDTH
from entrusted.errors import TamperDetected

TILE_BYTES = TILE_WIDTH * HASH_SIZE
CHUNK_TILES = 64  # 16,384 entries (~6 MB of rows) per query: amortises the round trip
_sha256 = hashlib.sha256


def fold(hashes: bytes) -> bytes:
    """The roots of consecutive full tiles: hash neighbouring pairs TILE_HEIGHT times over."""
    sha = _sha256
    row = hashes
    for _ in range(TILE_HEIGHT):
        row = b"".join([sha(b"\x01" + row[i : i + 64]).digest() for i in range(0, len(row), 64)])
    return row


def blob(value: object) -> bytes:
    """A stored binary value; anything else (a tampered column type) compares as wrong."""
    return value if isinstance(value, bytes) else b"\x00not bytes"


def first_difference(got: bytes, want: bytes) -> int:
    """The first hash position at which two tiles differ (lengths may differ too)."""
    for i in range(0, max(len(got), len(want)), HASH_SIZE):
        if got[i : i + HASH_SIZE] != want[i : i + HASH_SIZE]:
            return i // HASH_SIZE
    return 0


def check_chunk(db: SnapshotReader, lo: int, hi: int, rows: list[Row], stored: list[Row]) -> bytes:
    """The leaf hashes of entries [lo, hi), once they match every full level-0 tile stored over
    them and each entry is filed under its own customer; TamperDetected at the first that
    does not. `rows` are `(idx, body, customer_id)`, `stored` the tiles `(idx, hashes)`."""
    # idx is unique, so sorted rows in [lo, hi) with these ends are exactly lo..hi-1.
    if len(rows) != hi - lo or rows[0][0] != lo or rows[-1][0] != hi - 1:
        expected = lo
        while expected - lo < len(rows) and rows[expected - lo][0] == expected:
            expected += 1
        raise TamperDetected(f"entry {expected} is missing from the log", index=expected)
    _, bodies, customers = zip(*rows, strict=True)
    sha = _sha256
    try:
        hashes = b"".join([sha(b"\x00" + body).digest() for body in bodies])
    except TypeError:
        bad = lo + next(i for i, b in enumerate(bodies) if not isinstance(b, bytes))
        raise TamperDetected(f"entry {bad} is not stored as bytes", index=bad) from None
    full = len(hashes) // TILE_BYTES
    misfiled = first_misfiled(bodies, customers)
    intact = len(stored) == full and all(_is_tile(r[1]) for r in stored)
    if (
        not intact
        or misfiled is not None
        or b"".join(r[1] for r in stored) != hashes[: full * TILE_BYTES]
    ):
        _explain(db, lo, hashes, stored, misfiled)
    return hashes


def _is_tile(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == TILE_BYTES


def _explain(
    db: SnapshotReader, lo: int, hashes: bytes, stored: list[Row], misfiled: int | None
) -> None:
    """Raise for the first discrepancy in a chunk. An entry is blamed when its stored tile
    still folds to the hash stored above it (so the entry changed, not the tile)."""
    first_tile = lo // TILE_WIDTH
    for k in range(len(hashes) // TILE_BYTES):
        tile = first_tile + k
        if k >= len(stored) or stored[k][0] != tile:
            raise TamperDetected(f"tile 0/{tile} is missing")
        want, got = hashes[k * TILE_BYTES : (k + 1) * TILE_BYTES], blob(stored[k][1])
        if got == want:
            continue
        entry = tile * TILE_WIDTH + first_difference(got, want)
        if misfiled is not None and lo + misfiled < entry:
            break
        if len(got) == TILE_BYTES and _stored_parent(db, tile) == fold(got):
            raise TamperDetected(
                f"entry {entry} does not hash to the leaf hash tile 0/{tile} records for it",
                index=entry,
            )
        raise TamperDetected(
            f"tile 0/{tile} was altered: it disagrees with entry {entry} and with the "
            f"level-1 hash stored for it"
        )
    assert misfiled is not None
    raise TamperDetected(
        f"entry {lo + misfiled} is filed under a customer (customer_id) it is not about: "
        "the entry or its filing was altered",
        index=lo + misfiled,
    )


def _stored_parent(db: SnapshotReader, tile: int) -> bytes | None:
    """The level-1 hash stored for level-0 tile `tile`, if a row holds it."""
    parent, pos = divmod(tile, TILE_WIDTH)
    found = db.rows(
        "SELECT hashes FROM ledger_full_tile WHERE level = 1 AND idx = %s", (parent,)
    ) or db.rows("SELECT hashes FROM ledger_partial_tile WHERE level = 1 AND idx = %s", (parent,))
    parent_hash = blob(found[0][0])[pos * HASH_SIZE : (pos + 1) * HASH_SIZE] if found else b""
    return parent_hash if len(parent_hash) == HASH_SIZE else None
