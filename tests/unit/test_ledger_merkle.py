"""The ledger's Merkle maths against known answers, a literal RFC reference, and tlog-scales."""

from __future__ import annotations

import doctest
import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrusted.domain import ledger
from entrusted.domain.ledger import (
    EMPTY_ROOT,
    TILE_HEIGHT,
    TILE_WIDTH,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    root_of,
    subtree_root,
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

# --- Known answers: transparency-dev/merkle testonly/constants.go and proof/verify_test.go ----

KAT_INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
KAT_LEAVES = [leaf_hash(d) for d in KAT_INPUTS]
h = bytes.fromhex
KAT_ROOTS = [  # by tree size, 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
KAT_NODES = [  # [height][index]
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
N = KAT_NODES
KAT_COMPACT = [  # compact range hashes by size
    [],
    [N[0][0]],
    [N[1][0]],
    [N[1][0], N[0][2]],
    [N[2][0]],
    [N[2][0], N[0][4]],
    [N[2][0], N[1][2]],
    [N[2][0], N[1][2], N[0][6]],
    [N[3][0]],
]
KAT_INCLUSION = [  # (index, size, proof); verify_test.go numbers leaves from 1
    (0, 8, [N[0][1], N[1][1], N[2][1]]),
    (5, 8, [N[0][4], N[1][3], N[2][0]]),
    (2, 3, [N[1][0]]),
    (1, 5, [N[0][0], N[1][1], N[0][4]]),
]
KAT_CONSISTENCY = [
    (1, 8, [N[0][1], N[1][1], N[2][1]]),
    (6, 8, [N[1][2], N[1][3], N[2][0]]),
    (2, 5, [N[1][1], N[0][4]]),
    (6, 7, [N[1][2], N[0][6], N[2][0]]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- A literal RFC 9162 reference and a naive node oracle --------------------------------------


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), mth(leaves[:k])]


def ref_directions(m: int, n: int) -> list[bool]:
    """For each hash of PATH(m, D[n]), deepest first: is the sibling on the right?"""
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*ref_directions(m, k), True]
    return [*ref_directions(m - k, n - k), False]


def ref_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def all_nodes(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    nodes = {(0, i): lh for i, lh in enumerate(leaves)}
    height, row = 0, list(leaves)
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        height += 1
        nodes.update({(height, i): x for i, x in enumerate(row)})
    return nodes


def oracle(nodes: dict[tuple[int, int], bytes], size: int) -> Callable[[int, int], bytes]:
    """get_node that fails if asked for a node not complete in a tree of `size` leaves."""

    def get_node(height: int, index: int) -> bytes:
        assert (index + 1) << height <= size, f"node ({height}, {index}) not in size {size}"
        return nodes[(height, index)]

    return get_node


BIG = [leaf_hash(random.Random(7).randbytes(16) + i.to_bytes(4, "big")) for i in range(300)]
BIG_NODES = all_nodes(BIG)
KAT_ALL_NODES = all_nodes(KAT_LEAVES)


def log2_ceil(n: int) -> int:
    return (n - 1).bit_length()


# --- Hashing and roots -------------------------------------------------------------------------


def test_hash_prefixes_are_rfc_9162() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == KAT_ROOTS[0]
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert KAT_NODES[0] == KAT_LEAVES


@pytest.mark.parametrize("size", range(9))
def test_known_answer_roots(size: int) -> None:
    assert root_of(KAT_LEAVES[:size]) == KAT_ROOTS[size]
    cr = CompactRange()
    cr.extend(KAT_LEAVES[:size])
    assert cr.root() == KAT_ROOTS[size]
    assert cr.hashes == KAT_COMPACT[size]


def test_known_answer_nodes_are_reported_exactly_once() -> None:
    reported: list[tuple[int, int, bytes]] = []
    cr = CompactRange()
    cr.extend(KAT_LEAVES, lambda height, index, x: reported.append((height, index, x)))
    expected = [(hh, i, x) for hh, row in enumerate(KAT_NODES) for i, x in enumerate(row)]
    assert sorted(reported) == sorted(expected)


def test_eight_leaf_root_is_the_ct_vector() -> None:
    assert root_of(KAT_LEAVES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


# --- CompactRange ------------------------------------------------------------------------------


def test_compact_range_matches_reference_for_every_size_to_300() -> None:
    cr = CompactRange()
    seen: dict[tuple[int, int], bytes] = {}
    for n, lh in enumerate(BIG, start=1):
        fresh: list[tuple[int, int]] = []

        def record(height: int, index: int, x: bytes, fresh: list[tuple[int, int]] = fresh) -> None:
            assert (height, index) not in seen
            seen[(height, index)] = x
            fresh.append((height, index))

        cr.append(lh, record)
        assert cr.size == n
        assert cr.root() == mth(BIG[:n])
        # Reported nodes are exactly those the n-th leaf completes, bottom up.
        assert fresh == [(hh, (n >> hh) - 1) for hh in range(n.bit_length()) if n % (1 << hh) == 0]
        expected, start = [], 0
        for hh in range(n.bit_length() - 1, -1, -1):
            if n >> hh & 1:
                expected.append(mth(BIG[start : start + (1 << hh)]))
                start += 1 << hh
        assert cr.hashes == expected
    assert seen == BIG_NODES


@pytest.mark.parametrize("size", [*range(0, 40), 64, 127, 128, 129, 255, 256, 257, 299, 300])
def test_from_nodes_rebuilds_the_range(size: int) -> None:
    calls: list[tuple[int, int]] = []
    get = oracle(BIG_NODES, size)

    def counting(height: int, index: int) -> bytes:
        calls.append((height, index))
        return get(height, index)

    rebuilt = CompactRange.from_nodes(size, counting)
    incremental = CompactRange()
    incremental.extend(BIG[:size])
    assert rebuilt == incremental
    assert rebuilt.root() == mth(BIG[:size])
    assert len(calls) == size.bit_count()
    # A rebuilt range keeps appending correctly.
    rebuilt.append(BIG[size] if size < len(BIG) else BIG[0])
    incremental.append(BIG[size] if size < len(BIG) else BIG[0])
    assert rebuilt.root() == incremental.root()


def test_compact_range_copy_is_independent() -> None:
    cr = CompactRange()
    cr.extend(BIG[:5])
    clone = cr.copy()
    clone.append(BIG[5])
    assert cr.size == 5
    assert clone.size == 6
    assert cr.root() == mth(BIG[:5])
    assert clone.root() == mth(BIG[:6])
    cr.hashes.clear()  # .hashes is a copy; the range is unharmed
    assert cr.root() == mth(BIG[:5])


def test_compact_range_constructor_round_trips_and_validates() -> None:
    cr = CompactRange()
    cr.extend(BIG[:11])
    assert CompactRange(11, cr.hashes) == cr
    assert CompactRange().root() == EMPTY_ROOT
    with pytest.raises(ValueError, match="needs 3 hashes"):
        CompactRange(11, cr.hashes[:2])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError, match="out of range"):
        CompactRange(-1, [])
    with pytest.raises(ValueError, match="32 bytes"):
        cr.append(b"not a hash")
    assert cr.size == 11


# --- Proof generation against the literal reference --------------------------------------------


def inclusion_cases() -> Iterator[tuple[int, int]]:
    rng = random.Random(1)
    for n in range(1, 301):
        if n <= 64:
            yield from ((i, n) for i in range(n))
        else:
            picks = {0, n - 1, n // 2, split(n) - 1, split(n), *rng.sample(range(n), 5)}
            yield from ((i, n) for i in sorted(picks) if i < n)


def test_inclusion_proofs_match_reference_and_verify() -> None:
    for index, size in inclusion_cases():
        proof = inclusion_proof(index, size, oracle(BIG_NODES, size))
        assert proof == ref_path(index, BIG[:size]), (index, size)
        assert len(proof) <= log2_ceil(size)
        root = mth(BIG[:size])
        assert verify_inclusion(BIG[index], index, size, proof, root)
        assert root_from_inclusion(BIG[index], index, size, proof) == root


def consistency_cases() -> Iterator[tuple[int, int]]:
    rng = random.Random(2)
    for n in range(1, 301):
        if n <= 64:
            yield from ((m, n) for m in range(0, n + 1))
        else:
            picks = {0, 1, n - 1, n, split(n), *rng.sample(range(1, n), 6)}
            yield from ((m, n) for m in sorted(picks))


def test_consistency_proofs_match_reference_and_verify() -> None:
    for old, new in consistency_cases():
        proof = consistency_proof(old, new, oracle(BIG_NODES, new))
        expected = [] if old == 0 else ref_subproof(old, BIG[:new], True)
        assert proof == expected, (old, new)
        assert len(proof) <= log2_ceil(new) + 1
        assert verify_consistency(old, new, mth(BIG[:old]), mth(BIG[:new]), proof), (old, new)


@pytest.mark.parametrize(("index", "size", "expected"), KAT_INCLUSION)
def test_known_answer_inclusion_proofs(index: int, size: int, expected: list[bytes]) -> None:
    assert inclusion_proof(index, size, oracle(KAT_ALL_NODES, size)) == expected
    assert verify_inclusion(KAT_LEAVES[index], index, size, expected, KAT_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "expected"), KAT_CONSISTENCY)
def test_known_answer_consistency_proofs(old: int, new: int, expected: list[bytes]) -> None:
    assert consistency_proof(old, new, oracle(KAT_ALL_NODES, new)) == expected
    assert verify_consistency(old, new, KAT_ROOTS[old], KAT_ROOTS[new], expected)


def test_proof_generation_rejects_impossible_requests() -> None:
    get = oracle(BIG_NODES, 10)
    for index, size in [(0, 0), (10, 10), (-1, 5), (11, 10)]:
        with pytest.raises(ValueError, match="no leaf"):
            inclusion_proof(index, size, get)
    for old, new in [(5, 4), (-1, 3), (1, 1 << 64)]:
        with pytest.raises(ValueError, match="no consistency proof"):
            consistency_proof(old, new, get)
    assert consistency_proof(0, 10, get) == []
    assert consistency_proof(7, 7, get) == []


def test_subtree_root_needs_an_aligned_nonempty_range() -> None:
    get = oracle(BIG_NODES, 300)
    assert subtree_root(0, 300, get) == mth(BIG)
    assert subtree_root(256, 300, get) == mth(BIG[256:300])
    assert subtree_root(5, 6, get) == BIG[5]
    for lo, hi in [(1, 3), (2, 6), (4, 4), (6, 5)]:
        with pytest.raises(ValueError):
            subtree_root(lo, hi, get)


# --- Verifiers: fixed corruption probes (as in transparency-dev) and hypothesis fuzzing ---------


@pytest.mark.parametrize(("index", "size", "proof"), KAT_INCLUSION)
def test_inclusion_verifier_rejects_corrupted_known_proofs(
    index: int, size: int, proof: list[bytes]
) -> None:
    root, leaf = KAT_ROOTS[size], KAT_LEAVES[index]
    probes: list[tuple[bytes, int, int, Sequence[bytes], bytes]] = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (SOME_HASH, index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, SOME_HASH),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, proof[:-1], root),
        (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((leaf, index, size, bad, root))
    for probe in probes:
        assert verify_inclusion(*probe) is False, probe


@pytest.mark.parametrize(("old", "new", "proof"), KAT_CONSISTENCY)
def test_consistency_verifier_rejects_corrupted_known_proofs(
    old: int, new: int, proof: list[bytes]
) -> None:
    r1, r2 = KAT_ROOTS[old], KAT_ROOTS[new]
    probes: list[tuple[int, int, bytes, bytes, Sequence[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((old, new, r1, r2, bad))
    for probe in probes:
        assert verify_consistency(*probe) is False, probe


def test_root_from_inclusion_rejects_malformed_proofs() -> None:
    proof = inclusion_proof(3, 7, oracle(BIG_NODES, 7))
    with pytest.raises(ValueError, match="too long"):
        root_from_inclusion(BIG[3], 3, 7, [*proof, SOME_HASH])
    with pytest.raises(ValueError, match="too short"):
        root_from_inclusion(BIG[3], 3, 7, proof[:-1])
    with pytest.raises(ValueError, match="below the tree size"):
        root_from_inclusion(BIG[3], 7, 7, proof)
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_inclusion(BIG[3], 3, 7, [*proof[:-1], b"short"])


def test_trivial_consistency_cases() -> None:
    r1 = KAT_ROOTS[1]
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, KAT_ROOTS[5], [])
    assert verify_consistency(1, 1, r1, r1, [])
    assert not verify_consistency(0, 5, SOME_HASH, KAT_ROOTS[5], [])  # stricter than Go's
    assert not verify_consistency(0, 1, EMPTY_ROOT, r1, [EMPTY_ROOT])
    assert not verify_consistency(1, 1, r1, r1, [r1])
    assert not verify_consistency(1, 1, r1, KAT_ROOTS[2], [])
    assert not verify_consistency(2, 1, KAT_ROOTS[2], r1, [])
    assert not verify_consistency(1, 2, r1, KAT_ROOTS[2], [])


def test_verifiers_never_raise_on_garbage_types() -> None:
    good = inclusion_proof(3, 7, oracle(BIG_NODES, 7))
    root = mth(BIG[:7])
    garbage: list[object] = [None, "x", 3.5, True, -1, 1 << 70, b"", [b"x"], [None], object()]
    for g in garbage:
        assert verify_inclusion(g, 3, 7, good, root) is False  # type: ignore[arg-type]
        assert verify_inclusion(BIG[3], g, 7, good, root) is False  # type: ignore[arg-type]
        assert verify_inclusion(BIG[3], 3, g, good, root) is False  # type: ignore[arg-type]
        assert verify_inclusion(BIG[3], 3, 7, g, root) is False  # type: ignore[arg-type]
        assert verify_inclusion(BIG[3], 3, 7, good, g) is False  # type: ignore[arg-type]
        assert verify_consistency(g, 7, root, root, good) is False  # type: ignore[arg-type]
        assert verify_consistency(3, g, root, root, good) is False  # type: ignore[arg-type]
        assert verify_consistency(3, 7, g, root, good) is False  # type: ignore[arg-type]
        assert verify_consistency(3, 7, root, g, good) is False  # type: ignore[arg-type]
        assert verify_consistency(3, 7, root, root, g) is False  # type: ignore[arg-type]
    assert verify_inclusion(BIG[3], 3, 7, good, root) is True


hashes32 = st.binary(min_size=32, max_size=32)
MUTATIONS = ["flip", "drop", "insert", "truncate_hash", "extend_hash", "leaf", "root"]


@settings(max_examples=400, deadline=None)
@given(
    size=st.integers(1, 300),
    data=st.data(),
    mutation=st.sampled_from(MUTATIONS),
)
def test_mutated_inclusion_proofs_fail(size: int, data: st.DataObject, mutation: str) -> None:
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, oracle(BIG_NODES, size))
    leaf, root = BIG[index], mth(BIG[:size])
    if mutation in ("flip", "drop", "truncate_hash", "extend_hash") and not proof:
        mutation = "insert"
    bad = list(proof)
    if mutation == "flip":
        i, bit = data.draw(st.integers(0, len(bad) - 1)), data.draw(st.integers(0, 255))
        bad[i] = bytes(x ^ (1 << bit % 8) if j == bit // 8 else x for j, x in enumerate(bad[i]))
    elif mutation == "drop":
        del bad[data.draw(st.integers(0, len(bad) - 1))]
    elif mutation == "insert":
        bad.insert(data.draw(st.integers(0, len(bad))), data.draw(hashes32))
    elif mutation == "truncate_hash":
        i = data.draw(st.integers(0, len(bad) - 1))
        bad[i] = bad[i][: data.draw(st.integers(0, 31))]
    elif mutation == "extend_hash":
        bad[-1] += data.draw(st.binary(min_size=1, max_size=4))
    elif mutation == "leaf":
        leaf = data.draw(hashes32.filter(lambda x: x != BIG[index]))
    else:
        root = data.draw(hashes32.filter(lambda x: x != mth(BIG[:size])))
    assert verify_inclusion(leaf, index, size, bad, root) is False


@settings(max_examples=400, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_inclusion_with_other_index_or_size_fails_unless_same_shape(
    size: int, data: st.DataObject
) -> None:
    """A proof is a list of siblings; only the (index, size) pairs that put them on the same
    sides of the path can reuse it, which is why a proof is only meaningful next to a signed
    checkpoint naming the size. Every other pair must fail; nothing may raise."""
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, oracle(BIG_NODES, size))
    other_index = data.draw(st.integers(-3, 400))
    other_size = data.draw(st.integers(-3, 400))
    result = verify_inclusion(BIG[index], other_index, other_size, proof, mth(BIG[:size]))
    expected = 0 <= other_index < other_size and ref_directions(
        other_index, other_size
    ) == ref_directions(index, size)
    assert result is expected


def subproof_length(m: int, n: int) -> int:
    return 0 if m in (0, n) else len(ref_subproof(m, [b""] * n, True))


@settings(max_examples=400, deadline=None)
@given(new=st.integers(2, 300), data=st.data(), mutation=st.sampled_from([*MUTATIONS, "sizes"]))
def test_mutated_consistency_proofs_fail(new: int, data: st.DataObject, mutation: str) -> None:
    old = data.draw(st.integers(1, new - 1))
    proof = consistency_proof(old, new, oracle(BIG_NODES, new))
    r1, r2 = mth(BIG[:old]), mth(BIG[:new])
    bad = list(proof)
    o, n = old, new
    if mutation == "flip":
        i, bit = data.draw(st.integers(0, len(bad) - 1)), data.draw(st.integers(0, 255))
        bad[i] = bytes(x ^ (1 << bit % 8) if j == bit // 8 else x for j, x in enumerate(bad[i]))
    elif mutation == "drop":
        del bad[data.draw(st.integers(0, len(bad) - 1))]
    elif mutation == "insert":
        bad.insert(data.draw(st.integers(0, len(bad))), data.draw(hashes32))
    elif mutation == "truncate_hash":
        i = data.draw(st.integers(0, len(bad) - 1))
        bad[i] = bad[i][: data.draw(st.integers(0, 31))]
    elif mutation == "extend_hash":
        bad[-1] += data.draw(st.binary(min_size=1, max_size=4))
    elif mutation == "leaf":
        r1 = data.draw(hashes32.filter(lambda x: x != mth(BIG[:old])))
    elif mutation == "root":
        r2 = data.draw(hashes32.filter(lambda x: x != mth(BIG[:new])))
    else:
        o, n = data.draw(st.integers(-2, 400)), data.draw(st.integers(-2, 400))
        result = verify_consistency(o, n, r1, r2, bad)
        assert isinstance(result, bool)
        # The proof's length is fixed by the two sizes; a different length cannot verify.
        if (o, n) != (old, new) and not (0 <= o <= n and subproof_length(o, n) == len(proof)):
            assert result is False
        return
    assert verify_consistency(o, n, r1, r2, bad) is False


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


def test_docstring_examples() -> None:
    assert doctest.testmod(ledger).failed == 0


# --- Interop: tiles written by tlog-scales ------------------------------------------------------


def test_tiles_written_by_tlog_scales_match_ours(tmp_path: Path) -> None:
    backend_mod = pytest.importorskip("tlog_scales.backend")
    writer_mod = pytest.importorskip("tlog_scales.writer")
    reader_mod = pytest.importorskip("tlog_scales.reader")
    signing_mod = pytest.importorskip("tlog_scales.signing")
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
