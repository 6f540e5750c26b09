"""C2SP tlog-tiles addressing: where each hash of the tree lives, and how tiles and entry
bundles are named and encoded, so any tlog-tiles client can read our log unchanged.

A tile at level L, index N holds the 256 hashes of height-8L nodes N*256 .. N*256+255; a node
of any height is folded from at most 128 consecutive hashes of one tile.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import NamedTuple

from entrusted.domain.ledger import (
    HASH_SIZE,
    MAX_BUNDLE_ENTRY,
    MAX_TILE_LEVEL,
    MAX_TREE_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
)

_sha256 = hashlib.sha256


class NodeLocation(NamedTuple):
    """Where node (height, index) lives: fold `span` hashes from `first` in tile (level, tile)."""

    level: int
    tile: int
    first: int
    span: int


def locate_node(height: int, index: int) -> NodeLocation:
    if height < 0 or index < 0:
        raise ValueError(f"no node ({height}, {index})")
    level, within = divmod(height, TILE_HEIGHT)
    first_hash = index << within  # position among all hashes stored at this level
    return NodeLocation(level, first_hash >> TILE_HEIGHT, first_hash % TILE_WIDTH, 1 << within)


def node_from_tile_hashes(hashes: bytes, first: int, count: int) -> bytes:
    """Fold `count` (a power of two) consecutive 32-byte tile hashes from `first` into one node.

    `first` must be a multiple of `count`, otherwise the hashes do not form a subtree.
    """
    if count <= 0 or count & (count - 1) or first < 0 or first % count:
        raise ValueError(f"hashes [{first}, {first + count}) are not an aligned subtree")
    end = (first + count) * HASH_SIZE
    if end > len(hashes):
        raise ValueError(f"tile holds {len(hashes) // HASH_SIZE} hashes, need {first + count}")
    row = bytes(hashes[first * HASH_SIZE : end])
    sha = _sha256
    while len(row) > HASH_SIZE:  # hash neighbouring pairs straight from the bytes
        row = b"".join([sha(b"\x01" + row[i : i + 64]).digest() for i in range(0, len(row), 64)])
    return row


def _encode_index(index: int) -> str:
    if index < 0:
        raise ValueError(f"negative tile index {index}")
    groups = []
    while True:
        index, rest = divmod(index, 1000)
        groups.append(f"{rest:03d}")
        if index == 0:
            break
    groups.reverse()
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def _width_suffix(width: int | None) -> str:
    if width is None or width == TILE_WIDTH:
        return ""
    if not 1 <= width < TILE_WIDTH:
        raise ValueError(f"tile width {width} out of range")
    return f".p/{width}"


def max_tile_index(level: int) -> int:
    """The largest index a tile at `level` can have in a tree of at most 2^64 - 1 leaves (a
    bound that also keeps every index inside a signed 64-bit database column)."""
    return MAX_TREE_SIZE >> (TILE_HEIGHT * (level + 1))


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """`tile/<L>/<N>[.p/<W>]`; width None (or 256) means a full tile."""
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise ValueError(f"tile level {level} out of range")
    return f"tile/{level}/{_encode_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    return f"tile/entries/{_encode_index(index)}{_width_suffix(width)}"


_TILE_PATH = re.compile(r"tile/(entries|0|[1-9][0-9]?)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]+))?")


def _parse(path: str) -> tuple[int | None, int, int | None]:
    """(level, or None for an entry bundle; index; width); only the canonical spelling passes."""
    m = _TILE_PATH.fullmatch(path)
    if m is None:
        raise ValueError(f"not a tile path: {path!r}")
    level = None if m.group(1) == "entries" else int(m.group(1))
    index = int(m.group(2).replace("x", "").replace("/", ""))
    width = None if m.group(3) is None else int(m.group(3))
    if width == TILE_WIDTH or (level is not None and level > MAX_TILE_LEVEL):
        raise ValueError(f"not a tile path: {path!r}")
    try:
        canonical = entries_path(index, width) if level is None else tile_path(level, index, width)
    except ValueError:
        canonical = None
    if canonical != path:
        raise ValueError(f"not a canonical tile path: {path!r}")
    return level, index, width


def parse_tile_path(path: str) -> tuple[int, int, int | None]:
    """(level, index, width or None) of a hash-tile path; ValueError on anything else."""
    level, index, width = _parse(path)
    if level is None:
        raise ValueError(f"an entry bundle, not a hash tile: {path!r}")
    return level, index, width


def parse_entries_path(path: str) -> tuple[int, int | None]:
    """(index, width or None) of an entry-bundle path; ValueError on anything else."""
    level, index, width = _parse(path)
    if level is not None:
        raise ValueError(f"a hash tile, not an entry bundle: {path!r}")
    return index, width


def tiles_for_size(size: int) -> list[tuple[int, int, int | None]]:
    """Every hash tile a tree of `size` leaves publishes, level by level, full ones first."""
    if not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError(f"tree size {size} out of range")
    tiles: list[tuple[int, int, int | None]] = []
    level = 0
    stored = size  # hashes stored at this level: complete subtrees of height 8 * level
    while stored:
        full, partial = divmod(stored, TILE_WIDTH)
        tiles.extend((level, n, None) for n in range(full))
        if partial:
            tiles.append((level, full, partial))
        stored = full
        level += 1
    return tiles


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """A C2SP entry bundle: each entry prefixed with its big-endian uint16 length."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_BUNDLE_ENTRY:
            raise ValueError(f"entry of {len(entry)} bytes exceeds the 65535-byte bundle limit")
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_bundle(data: bytes) -> list[bytes]:
    entries = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise ValueError(f"bundle truncated in a length prefix at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > end:
            raise ValueError(f"bundle truncated: entry at byte {pos - 2} needs {length} bytes")
        entries.append(bytes(data[pos : pos + length]))
        pos += length
    return entries
