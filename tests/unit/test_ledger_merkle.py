"""The ledger's Merkle maths against known answers and a literal RFC 9162 reference."""

from __future__ import annotations

import doctest
import hashlib
import random
from collections.abc import Callable, Iterator, Sequence

import pytest

from entrusted.domain import ledger
from entrusted.domain.ledger import (
    EMPTY_ROOT,
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

pytestmark = pytest.mark.promise("P3", "P14")

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


def test_docstring_examples() -> None:
    assert doctest.testmod(ledger).failed == 0
