"""C2SP tlog-tiles addressing, tiles as node storage, entry bundles, and tlog-scales interop."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrusted.domain.ledger import (
    TILE_HEIGHT,
    TILE_WIDTH,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from entrusted.domain.tiles import (
    decode_bundle,
    encode_bundle,
    entries_path,
    locate_node,
    node_from_tile_hashes,
    parse_entries_path,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)
from tests.conftest import require_module
from tests.unit.test_ledger_merkle import (
    BIG,
    mth,
    ref_directions,
)

pytestmark = pytest.mark.promise("P3")

# --- tlog-tiles paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ((0, 1234067), "tile/0/x001/x234/067"),
        ((0, 273, 112), "tile/0/273.p/112"),
        ((1, 1, 17), "tile/1/001.p/17"),
        ((2, 0, 1), "tile/2/000.p/1"),
        ((0, 0), "tile/0/000"),
        ((3, 1000), "tile/3/x001/000"),
        ((63, 999), "tile/63/999"),
        ((0, 5, 256), "tile/0/005"),
    ],
)
def test_tile_paths_follow_the_spec(args: tuple[int, ...], path: str) -> None:
    assert tile_path(*args) == path
    level, index, width = parse_tile_path(path)
    assert (level, index) == args[:2]
    assert width == (args[2] if len(args) > 2 and args[2] != TILE_WIDTH else None)


def test_entry_bundle_paths() -> None:
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(273, 112) == "tile/entries/273.p/112"
    assert parse_entries_path("tile/entries/x001/x234/067") == (1234067, None)
    assert parse_entries_path("tile/entries/000.p/5") == (0, 5)
    with pytest.raises(ValueError, match="hash tile"):
        parse_entries_path("tile/0/000")
    with pytest.raises(ValueError, match="entry bundle"):
        parse_tile_path("tile/entries/000")


@pytest.mark.parametrize(
    "junk",
    [
        "tile/0/1234067",
        "tile/0/x001/x234/67",
        "tile/0/x001/234/067",
        "tile/0/x000/001",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/012",
        "tile/0/000.p/",
        "tile/0/000/",
        "/tile/0/000",
        "tile/0/",
        "tile/0/\u0660\u0660\u0660",
        "tile/0/000\n",
        "tiles/0/000",
        "",
    ],
)
def test_parse_tile_path_rejects_junk(junk: str) -> None:
    with pytest.raises(ValueError):
        parse_tile_path(junk)


@settings(max_examples=300)
@given(
    level=st.integers(0, 63),
    index=st.integers(0, 10**12),
    width=st.none() | st.integers(1, 255),
)
def test_tile_path_round_trips(level: int, index: int, width: int | None) -> None:
    assert parse_tile_path(tile_path(level, index, width)) == (level, index, width)
    assert parse_entries_path(entries_path(index, width)) == (index, width)


@pytest.mark.parametrize(
    ("args", "message"),
    [((64, 0), "level"), ((-1, 0), "level"), ((0, -1), "index"), ((0, 0, 0), "width")],
)
def test_tile_path_rejects_bad_arguments(args: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tile_path(*args)


def test_tiles_for_size_spec_example() -> None:
    tiles = tiles_for_size(70_000)
    assert tiles == [
        *((0, n, None) for n in range(273)),
        (0, 273, 112),
        (1, 0, None),
        (1, 1, 17),
        (2, 0, 1),
    ]
    assert [tile_path(*t) for t in tiles[-5:]] == [
        "tile/0/272",
        "tile/0/273.p/112",
        "tile/1/000",
        "tile/1/001.p/17",
        "tile/2/000.p/1",
    ]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, []),
        (1, [(0, 0, 1)]),
        (255, [(0, 0, 255)]),
        (256, [(0, 0, None), (1, 0, 1)]),  # the spec's own second example
        (257, [(0, 0, None), (0, 1, 1), (1, 0, 1)]),
        (65536, [*((0, n, None) for n in range(256)), (1, 0, None), (2, 0, 1)]),
    ],
)
def test_tiles_for_small_sizes(size: int, expected: list[tuple[int, int, int | None]]) -> None:
    assert tiles_for_size(size) == expected


# --- Tiles as node storage ---------------------------------------------------------------------


Nodes = dict[tuple[int, int], bytes]


def build_tiles(size: int) -> tuple[CompactRange, dict[int, bytearray], Nodes]:
    """Fill per-level hash rows as a storage layer would, from `on_node`."""
    levels: dict[int, bytearray] = {}
    nodes: dict[tuple[int, int], bytes] = {}
    rng = random.Random(size)

    def store(height: int, index: int, x: bytes) -> None:
        nodes[(height, index)] = x
        if height % TILE_HEIGHT == 0:
            row = levels.setdefault(height // TILE_HEIGHT, bytearray())
            assert len(row) == index * 32  # hashes arrive in order, no gaps
            row += x

    cr = CompactRange()
    for _ in range(size):
        cr.append(leaf_hash(rng.randbytes(8)), store)
    return cr, levels, nodes


def tile_oracle(levels: dict[int, bytearray]) -> Callable[[int, int], bytes]:
    def get_node(height: int, index: int) -> bytes:
        loc = locate_node(height, index)
        row = levels[loc.level]
        tile = bytes(row[loc.tile * TILE_WIDTH * 32 : (loc.tile + 1) * TILE_WIDTH * 32])
        return node_from_tile_hashes(tile, loc.first, loc.span)

    return get_node


def test_nodes_read_from_tiles_match_the_tree() -> None:
    size = 70_000
    cr, levels, nodes = build_tiles(size)
    assert {lvl: len(row) // 32 for lvl, row in levels.items()} == {0: 70_000, 1: 273, 2: 1}
    widths = {(lvl, n): w or TILE_WIDTH for lvl, n, w in tiles_for_size(size)}
    assert sum(w for (lvl, _), w in widths.items() if lvl == 0) == size
    get = tile_oracle(levels)
    rng = random.Random(3)
    sample = [k for k in nodes if k[0] >= 5] + rng.sample(sorted(nodes), 3000)
    for height, index in sample:
        assert get(height, index) == nodes[(height, index)], (height, index)
    assert CompactRange.from_nodes(size, get) == cr
    for old in (1, 255, 256, 257, 65_535, 65_536, 65_537, 69_999):
        assert CompactRange.from_nodes(old, get).size == old
        proof = consistency_proof(old, size, get)
        old_root = CompactRange.from_nodes(old, get).root()
        assert verify_consistency(old, size, old_root, cr.root(), proof)
    for index in (0, 255, 256, 65_535, 65_536, 69_999):
        proof = inclusion_proof(index, size, get)
        assert len(proof) == len(ref_directions(index, size)) <= 17
        assert verify_inclusion(nodes[(0, index)], index, size, proof, cr.root())


def test_locate_node() -> None:
    assert locate_node(0, 70_000) == (0, 273, 112, 1)
    assert locate_node(3, 9) == (0, 0, 72, 8)
    assert locate_node(8, 300) == (1, 1, 44, 1)
    assert locate_node(15, 1) == (1, 0, 128, 128)
    assert locate_node(16, 0) == (2, 0, 0, 1)


def test_node_from_tile_hashes_folds_pairwise() -> None:
    hs = BIG[:8]
    tile = b"".join(hs)
    assert node_from_tile_hashes(tile, 0, 8) == mth(hs)
    assert node_from_tile_hashes(tile, 4, 4) == mth(hs[4:])
    assert node_from_tile_hashes(tile, 6, 2) == node_hash(hs[6], hs[7])
    assert node_from_tile_hashes(tile, 3, 1) == hs[3]
    for first, count in [(0, 3), (1, 2), (0, 16), (8, 1), (-1, 1), (0, 0)]:
        with pytest.raises(ValueError):
            node_from_tile_hashes(tile, first, count)


# --- Entry bundles -----------------------------------------------------------------------------


def test_bundle_encoding_is_uint16_length_prefixed() -> None:
    assert encode_bundle([]) == b""
    assert encode_bundle([b"", b"ab", b"\xff" * 300]) == (
        b"\x00\x00" + b"\x00\x02ab" + b"\x01\x2c" + b"\xff" * 300
    )
    assert decode_bundle(b"\x00\x00\x00\x02ab") == [b"", b"ab"]
    with pytest.raises(ValueError, match="65535"):
        encode_bundle([b"x" * 65536])
    assert decode_bundle(encode_bundle([b"x" * 65535])) == [b"x" * 65535]


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x03ab", b"\x00\x01a\x00", b"\xff\xff"])
def test_truncated_bundles_are_rejected(data: bytes) -> None:
    with pytest.raises(ValueError, match="truncated"):
        decode_bundle(data)


@given(st.lists(st.binary(max_size=600), max_size=20))
def test_bundle_round_trip(entries: list[bytes]) -> None:
    assert decode_bundle(encode_bundle(entries)) == entries


# --- Interop: tiles written by tlog-scales ------------------------------------------------------


def test_tiles_written_by_tlog_scales_match_ours(tmp_path: Path) -> None:
    backend_mod = require_module("tlog_scales.backend")
    writer_mod = require_module("tlog_scales.writer")
    reader_mod = require_module("tlog_scales.reader")
    signing_mod = require_module("tlog_scales.signing")
    rng = random.Random(70_000)
    entries = [rng.randbytes(rng.randrange(0, 40)) for _ in range(70_000)]
    writer = writer_mod.TilesWriter.create(tmp_path / "log", "example.com/interop")
    cr = CompactRange()
    for batch in (entries[:1], entries[1:300], entries[300:]):
        for entry in batch:
            writer.add_leaf(entry)
            cr.append(leaf_hash(entry))
        writer.commit([signing_mod.DummySigner()])
    root = tmp_path / "log"
    levels: dict[int, bytearray] = {}
    for level, index, width in tiles_for_size(70_000):  # every tile we expect is there
        data = (root / tile_path(level, index, width)).read_bytes()
        assert len(data) == 32 * (width or TILE_WIDTH)
        levels.setdefault(level, bytearray()).extend(data)
        if level == 0:
            bundle = decode_bundle((root / entries_path(index, width)).read_bytes())
            assert b"".join(leaf_hash(e) for e in bundle) == data
    get = tile_oracle(levels)
    assert CompactRange.from_nodes(70_000, get) == cr
    reader = reader_mod.TilesReader(backend_mod.LocalBackend(root))
    checkpoint = reader.get_checkpoint()
    assert (checkpoint.size, checkpoint.root_hash) == (70_000, cr.root())
    for index, size in [(0, 70_000), (12_345, 70_000), (69_999, 70_000), (256, 300), (0, 1)]:
        theirs = reader.get_inclusion_proof(index, size).node_hashes
        assert inclusion_proof(index, size, get) == theirs
    for old, new in [(1, 70_000), (300, 70_000), (65_536, 70_000), (7, 300), (300, 300)]:
        theirs = reader.get_consistency_proof(old, new).node_hashes
        ours = consistency_proof(old, new, get)
        assert ours == theirs
        their_check = reader_mod.ConsistencyProof(old, new, ours)
        their_check.check(CompactRange.from_nodes(old, get).root(), reader.mth(0, new))
