"""Start-up verification: the entries added since the last verified point, before serving.

A full verification reads every entry (minutes at 1e8 entries), so `serve` checks only what
is new since the signed local record (`LocalRecord`), plus what a rollback would disturb:
the stored tree must still hold the record's compact range and the head it last signed, the
last entry must exist and hash to its tile, and no checkpoint row the record counted may be
gone. New entries are rehashed and compared with their level-0 tiles, every tile node they
complete with the stored one, the resulting root with the stored root, and every new
checkpoint's signature and root. Older entries are the scheduled full verification's job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from entrusted.adapters.db.ledger_scan import SnapshotReader, snapshot
from entrusted.adapters.db.ledger_verify import StoredNodes
from entrusted.crypto.signing import log_origin, verify_note
from entrusted.domain.checkpoint import LocalRecord
from entrusted.domain.ledger import EMPTY_ROOT, CompactRange, subtree_root
from entrusted.errors import TamperDetected

CHUNK = 16_384
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True)
class TailReport:
    """What start-up verified: entries [first, size), checkpoints after #`checkpoints_from`."""

    first: int
    size: int
    root: bytes
    checkpoints_from: int
    record: LocalRecord

    def summary(self) -> str:
        new = self.record.checkpoints_checked - self.checkpoints_from
        return (
            f"ledger verified: entries {self.first}..{self.size - 1} rehashed against their "
            f"tiles ({self.size - self.first} new since the last verified point), root "
            f"{self.root.hex()[:16]}… at size {self.size}, {new} new checkpoints, and the head "
            f"of size {self.record.signed_size} this installation signed"
            if self.size > self.first
            else f"ledger verified: no entries since the last verified point (size {self.size}),"
            f" {new} new checkpoints, and the head of size {self.record.signed_size} this "
            "installation signed"
        )


def verify_since(engine: sa.Engine, vkey: str, record: LocalRecord | None) -> TailReport:
    """Verify the log from `record` on (from the first entry without one), in one snapshot."""
    origin = log_origin(vkey)  # a vkey or the log's key list (after a key rollover)
    if record is None:
        record = LocalRecord(origin, 0, EMPTY_ROOT, 0, (), 0)
    if record.origin != origin:
        raise TamperDetected(
            f"the local ledger record is for log {record.origin!r}, not {origin!r}"
        )
    with snapshot(engine) as db:
        try:
            new = verify_tail(db, vkey, origin, record)
        except ValueError as exc:  # a stored tile too short to hold a node
            raise TamperDetected(f"a stored tile is malformed: {exc}") from None
    return TailReport(
        record.verified_size,
        new.verified_size,
        CompactRange(new.verified_size, new.verified_hashes).root(),
        record.checkpoints_checked,
        new,
    )


def verify_tail(db: SnapshotReader, vkey: str, origin: str, record: LocalRecord) -> LocalRecord:
    """Verify the log from `record` on; return the record of the new verified point."""
    state = db.rows("SELECT size, root FROM ledger_state")
    size, root = (0, EMPTY_ROOT) if not state else (int(state[0][0]), bytes(state[0][1]))
    nodes = StoredNodes(db)
    for what, at in (("verified", record.verified_size), ("signed", record.signed_size)):
        if at > size:
            raise TamperDetected(
                f"the log holds {size} entries but this installation {what} {at}: "
                f"entries {size}..{at - 1} were removed",
                index=size,
            )
    start = CompactRange(record.verified_size, record.verified_hashes)
    if CompactRange.from_nodes(record.verified_size, nodes.get) != start:
        raise TamperDetected(
            f"the stored tree below entry {record.verified_size} is not the one verified before"
        )
    if _root(record.signed_size, nodes) != record.signed_root:
        raise TamperDetected(
            f"the log no longer holds the head of size {record.signed_size} this installation "
            "signed: it was rewritten"
        )
    cr = start.copy()
    for lo in range(record.verified_size, size, CHUNK):
        _chunk(db, nodes, cr, lo, min(size, lo + CHUNK))
    if size:
        _check_entry(db, nodes, size - 1)  # a deleted last entry leaves no other trace
    if cr.root() != root:
        raise TamperDetected(f"the stored root at size {size} is not the one the entries produce")
    checked, largest = _checkpoints(db, nodes, vkey, origin, record.checkpoints_checked, size)
    signed = max((record.signed_size, record.signed_root), largest, key=lambda p: p[0])
    return LocalRecord(origin, signed[0], signed[1], size, tuple(cr.hashes), checked)


def _root(size: int, nodes: StoredNodes) -> bytes:
    return subtree_root(0, size, nodes.get) if size else EMPTY_ROOT


def _leaf(body: object, idx: int) -> bytes:
    if not isinstance(body, bytes):
        raise TamperDetected(f"entry {idx} is not stored as bytes", index=idx)
    return _sha256(b"\x00" + body).digest()


def _chunk(db: SnapshotReader, nodes: StoredNodes, cr: CompactRange, lo: int, hi: int) -> None:
    rows = db.rows(
        "SELECT idx, body FROM ledger_entry WHERE idx >= %s AND idx < %s ORDER BY idx", (lo, hi)
    )
    hashes = []
    for expected, (idx, body) in enumerate(rows, start=lo):
        if idx != expected:
            raise TamperDetected(f"entry {expected} is missing from the log", index=expected)
        h = _leaf(body, idx)
        if h != nodes.get(0, idx):
            raise TamperDetected(
                f"entry {idx} does not hash to the leaf hash its tile records (the entry or the "
                "tile was altered)",
                index=idx,
            )
        hashes.append(h)
    if len(hashes) != hi - lo:
        missing = lo + len(hashes)
        raise TamperDetected(f"entry {missing} is missing from the log", index=missing)
    for height, index, h in cr.extend_tiles(hashes):
        if nodes.get(height, index) != h:
            first = index << height
            raise TamperDetected(
                f"the tile hash over entries {first}..{first + (1 << height) - 1} was altered",
                index=first,
            )


def _check_entry(db: SnapshotReader, nodes: StoredNodes, idx: int) -> None:
    rows = db.rows("SELECT body FROM ledger_entry WHERE idx = %s", (idx,))
    if not rows:
        raise TamperDetected(f"entry {idx} is missing from the log", index=idx)
    if _leaf(rows[0][0], idx) != nodes.get(0, idx):
        raise TamperDetected(
            f"entry {idx} does not hash to the leaf hash its tile records (the entry or the "
            "tile was altered)",
            index=idx,
        )


def _checkpoints(
    db: SnapshotReader, nodes: StoredNodes, vkey: str, origin: str, after: int, size: int
) -> tuple[int, tuple[int, bytes]]:
    """Check the checkpoint rows after id `after`; return the last id (rows are never
    deleted, so fewer is tampering) and the largest new signed head."""
    last = db.rows("SELECT max(id) FROM ledger_checkpoint")[0][0] or 0
    if last < after:
        raise TamperDetected(f"checkpoint #{last + 1} is missing (#{after} was seen before)")
    rows = db.rows(
        "SELECT id, size, root, note FROM ledger_checkpoint WHERE id > %s ORDER BY id", (after,)
    )
    largest = (0, EMPTY_ROOT)
    for cp_id, cp_size, cp_root, note in rows:
        try:
            cp = verify_note(str(note), vkey, origin=origin)
        except TamperDetected as exc:
            raise TamperDetected(f"checkpoint #{cp_id}: {exc.message}") from None
        if (cp.size, cp.root) != (cp_size, cp_root):
            raise TamperDetected(f"checkpoint #{cp_id}: its size or root differs from its note")
        if cp.size > size or _root(cp.size, nodes) != cp.root:
            raise TamperDetected(f"checkpoint #{cp_id} signs a head this log does not hold")
        largest = max(largest, (cp.size, cp.root), key=lambda p: p[0])
    return int(last), largest
