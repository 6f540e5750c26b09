"""Monitoring by anyone: hold a published log to the history it showed before.

A monitor keeps the last checkpoint it verified (`MonitorState`, in a file of its own choosing),
fetches the newest one, checks its signature against the key it trusts, and proves from the
log's public tiles that the new tree extends the old one (RFC 9162 consistency, computed here
from the tiles rather than taken from the log). A smaller tree is a rollback, a failed proof
a fork; both raise `TamperDetected` and leave the state untouched, so the evidence stays.
`verify-receipt --against` runs the same check from a receipt's checkpoint to today's.

>>> state = monitor(source, vkey, None)  # doctest: +SKIP
>>> state = monitor(source, vkey, state)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from entrusted.crypto.signing import key_list, log_origin, verify_note
from entrusted.domain.checkpoint import Checkpoint, b64decode_strict, b64encode
from entrusted.domain.ledger import (
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    consistency_proof,
    verify_consistency,
)
from entrusted.domain.tiles import locate_node, node_from_tile_hashes
from entrusted.errors import InvalidInput, TamperDetected
from entrusted.services.witness_submit import WitnessPolicy

STATE_FORMAT = "entrusted-ledger-monitor-v1"


class TileSource(Protocol):
    """A log's public C2SP tlog-tiles endpoints."""

    def checkpoint(self) -> str: ...
    def tile(self, level: int, index: int, width: int | None) -> bytes: ...


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The last checkpoint a monitor verified, and the key it trusts."""

    vkey: str
    size: int
    root: bytes
    note: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "vkey": self.vkey,
                "size": self.size,
                "root": b64encode(self.root),
                "note": self.note,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> MonitorState:
        try:
            raw: Any = json.loads(text)
            fmt = raw["format"]
            state = cls(
                str(raw["vkey"]), int(raw["size"]), b64decode_strict(raw["root"]), raw["note"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("monitor state", f"not a monitor state file: {exc}") from None
        if fmt != STATE_FORMAT or not isinstance(state.note, str):
            raise InvalidInput("monitor state", f"unknown format {fmt!r}")
        cp = verify_note(state.note, state.vkey)  # the state is evidence: it must verify too
        if (cp.size, cp.root) != (state.size, state.root):
            raise InvalidInput("monitor state", "its size or root differs from its checkpoint")
        return state


@dataclass(frozen=True, slots=True)
class MonitorReport:
    previous: MonitorState | None
    state: MonitorState
    tiles: int  # tiles fetched to prove consistency
    witnesses: tuple[str, ...] = ()  # who cosigned the new checkpoint, when a policy was given


def monitor(
    source: TileSource,
    vkey: str,
    previous: MonitorState | None,
    witnesses: WitnessPolicy | None = None,
) -> MonitorReport:
    """Verify the log's newest checkpoint against `previous` (None: the first look); with
    `witnesses`, it must also carry the policy's k of n cosignatures."""
    if previous is not None and not set(key_list(previous.vkey)) <= set(key_list(vkey)):
        # A key list may grow (a signing-key rollover adds a key); dropping or swapping a
        # trusted key is the operator's call, not the monitor's.
        raise InvalidInput("key", "the state file trusts a key that the one(s) given lack")
    try:
        origin = log_origin(vkey)  # Entrusted's checkpoints name their key's log
    except InvalidInput as exc:
        raise InvalidInput("key", exc.message) from None
    note = source.checkpoint()
    new = verify_note(note, vkey, origin=origin)
    cosigners = witnesses.check(note) if witnesses is not None else {}
    tiles = 0
    if previous is not None:
        old = Checkpoint(new.origin, previous.size, previous.root)
        tiles = prove_consistent(source, old, new)
    state = MonitorState(vkey, new.size, new.root, note)
    return MonitorReport(previous, state, tiles, tuple(sorted(cosigners)))


def prove_consistent(source: TileSource, old: Checkpoint, new: Checkpoint) -> int:
    """Check, from the log's tiles, that the tree of `new` extends that of `old`; return how
    many tiles were fetched. TamperDetected on a rollback or a fork."""
    if new.size < old.size:
        raise TamperDetected(
            f"rollback: the log now signs size {new.size}, below the size {old.size} it "
            "signed before",
            index=new.size,
        )
    nodes = _RemoteNodes(source, new.size)
    try:
        proof = consistency_proof(old.size, new.size, nodes.get)
    except ValueError as exc:
        raise TamperDetected(f"the log's tiles cannot prove consistency: {exc}") from None
    if not verify_consistency(old.size, new.size, old.root, new.root, proof):
        raise TamperDetected(
            f"fork: the log's checkpoint of size {new.size} is not consistent with the one "
            f"of size {old.size} seen before"
        )
    return len(nodes.tiles)


class _RemoteNodes:
    """Tree nodes folded from tiles fetched at the widths a tree of `size` publishes."""

    def __init__(self, source: TileSource, size: int) -> None:
        self.source = source
        self.size = size
        self.tiles: dict[tuple[int, int], bytes] = {}

    def get(self, height: int, index: int) -> bytes:
        loc = locate_node(height, index)
        key = (loc.level, loc.tile)
        data = self.tiles.get(key)
        if data is None:
            stored = self.size >> (TILE_HEIGHT * loc.level)  # hashes this level holds
            rest = stored - loc.tile * TILE_WIDTH
            width = None if rest >= TILE_WIDTH else rest
            data = self.source.tile(loc.level, loc.tile, width)
            if len(data) != (width or TILE_WIDTH) * HASH_SIZE:
                raise TamperDetected(f"tile {loc.level}/{loc.tile} has {len(data)} bytes")
            self.tiles[key] = data
        return node_from_tile_hashes(data, loc.first, loc.span)
