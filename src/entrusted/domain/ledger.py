"""Merkle-tree maths for the staff-access ledger, kept pure so every byte of it is testable.

Customers must be able to check our log with tools we did not write, so nothing here is
invented: hashing, proofs and verification are RFC 9162 §2.1 verbatim (the same tree as
RFC 6962 and Certificate Transparency), and storage addressing is C2SP tlog-tiles. Keeping the
storage out of this module is what lets the SQL layer, an exported tile directory and an
auditor's verifier share one implementation: proofs are computed against a `get_node(height,
index)` oracle, and `CompactRange` reports each perfect subtree it completes so a caller can
fill tiles. Nothing here knows what a leaf means.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
MAX_TREE_SIZE = (1 << 64) - 1  # RFC 9162 tree sizes are uint64
MAX_BUNDLE_ENTRY = 0xFFFF

_sha256 = hashlib.sha256
EMPTY_ROOT: bytes = _sha256(b"").digest()

GetNode = Callable[[int, int], bytes]
"""`get_node(height, index)`: hash of the perfect subtree over leaves
[index * 2**height, (index + 1) * 2**height)."""

OnNode = Callable[[int, int, bytes], None]


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): where MTH splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Reference MTH (RFC 9162 §2.1.1), recursive and O(n): for tests and tiny inputs."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split_point(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


class CompactRange:
    """The roots of the perfect subtrees covering leaves [0, size), largest first.

    This is all the state a sequencer needs to append and to compute the current root: at
    most 64 hashes, whatever the size.

    >>> cr = CompactRange()
    >>> for data in (b"a", b"b", b"c"):
    ...     cr.append(leaf_hash(data))
    >>> cr.size, len(cr.hashes)
    (3, 2)
    >>> cr.root() == root_of([leaf_hash(d) for d in (b"a", b"b", b"c")])
    True
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if not 0 <= size <= MAX_TREE_SIZE:
            raise ValueError(f"tree size {size} out of range")
        if len(hashes) != size.bit_count():
            raise ValueError(f"size {size} needs {size.bit_count()} hashes, not {len(hashes)}")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("compact range hashes must be 32 bytes")
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """A copy, left to right (decreasing heights, one per set bit of `size`)."""
        return list(self._hashes)

    def append(self, leaf_hash: bytes, on_node: OnNode | None = None) -> None:
        """Add one leaf; merges one node on average (the trailing one-bits of size).

        `on_node(height, index, hash)` is called for the leaf itself (height 0) and then for
        every perfect subtree the append completes, bottom up.
        """
        size = self._size
        if len(leaf_hash) != HASH_SIZE or size == MAX_TREE_SIZE:
            raise ValueError("leaf hash must be 32 bytes (and the tree not full)")
        hashes = self._hashes
        h = leaf_hash
        if on_node is not None:
            on_node(0, size, h)
        height, bits = 0, size
        while bits & 1:  # each trailing one-bit of size is a subtree the new leaf completes
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            bits >>= 1
            height += 1
            if on_node is not None:
                on_node(height, bits, h)
        hashes.append(h)
        self._size = size + 1

    def extend(self, leaf_hashes: Sequence[bytes], on_node: OnNode | None = None) -> None:
        for h in leaf_hashes:
            self.append(h, on_node)

    def extend_tiles(self, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
        """Append many leaves; return the completed nodes tiles store above level 0.

        Those are the nodes whose height is a positive multiple of TILE_HEIGHT, as `(height,
        index, hash)` in completion order: what `extend` with an `on_node` filter would see,
        without a Python call per node, because this is the sequencer's hot loop.
        """
        if any(len(h) != HASH_SIZE for h in leaf_hashes):
            raise ValueError("leaf hashes must be 32 bytes")
        if self._size + len(leaf_hashes) > MAX_TREE_SIZE:
            raise ValueError("the tree is full")
        hashes, size, sha, out = self._hashes, self._size, _sha256, []
        for leaf in leaf_hashes:
            h, bits, height = leaf, size, 0
            while bits & 1:
                h = sha(b"\x01" + hashes.pop() + h).digest()
                bits >>= 1
                height += 1
                if height % TILE_HEIGHT == 0:
                    out.append((height, bits, h))
            hashes.append(h)
            size += 1
        self._size = size
        return out

    def root(self) -> bytes:
        """MTH of [0, size): the hashes folded right to left."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = _sha256(b"\x01" + h + r).digest()
        return r

    def copy(self) -> CompactRange:
        clone = CompactRange.__new__(CompactRange)
        clone._size = self._size
        clone._hashes = list(self._hashes)
        return clone

    @classmethod
    def from_nodes(cls, size: int, get_node: GetNode) -> CompactRange:
        """Rebuild from stored perfect subtrees: one `get_node` call per set bit of size."""
        if not 0 <= size <= MAX_TREE_SIZE:
            raise ValueError(f"tree size {size} out of range")
        hashes = []
        start = 0
        for height in range(size.bit_length() - 1, -1, -1):
            if size >> height & 1:
                hashes.append(get_node(height, start >> height))
                start += 1 << height
        return cls(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()[:16]}…)"


def subtree_root(lo: int, hi: int, get_node: GetNode) -> bytes:
    """MTH(D[lo:hi]) from perfect-subtree hashes, for any range RFC 9162 recursion produces.

    Those ranges start on a multiple of their largest power of two, so their perfect
    subtrees are nodes of the whole tree; any other range has no such decomposition.
    """
    n = hi - lo
    if lo < 0 or n <= 0:
        raise ValueError(f"empty or negative range [{lo}, {hi})")
    top = n.bit_length() - 1
    if lo & ((1 << top) - 1):
        raise ValueError(f"range [{lo}, {hi}) is not aligned to its largest subtree")
    parts = []
    start = lo
    for height in range(top, -1, -1):
        if n >> height & 1:
            parts.append(get_node(height, start >> height))
            start += 1 << height
    r = parts[-1]
    for h in reversed(parts[:-1]):
        r = node_hash(h, r)
    return r


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, deepest sibling first."""
    if not 0 <= index < size <= MAX_TREE_SIZE:
        raise ValueError(f"no leaf {index} in a tree of size {size}")
    siblings = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split_point(hi - lo)
        if index < mid:
            siblings.append(subtree_root(mid, hi, get_node))
            hi = mid
        else:
            siblings.append(subtree_root(lo, mid, get_node))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1; empty when old_size is 0 or equal."""
    if not 0 <= old_size <= new_size <= MAX_TREE_SIZE:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    parts = []
    lo, hi = 0, new_size
    old_is_whole_subtree = True  # SUBPROOF's flag b: D[0:old_size] is a node we may omit
    while hi != old_size:
        mid = lo + _split_point(hi - lo)
        if old_size <= mid:
            parts.append(subtree_root(mid, hi, get_node))
            hi = mid
        else:
            parts.append(subtree_root(lo, mid, get_node))
            lo = mid
            old_is_whole_subtree = False
    if not old_is_whole_subtree:
        parts.append(subtree_root(lo, hi, get_node))
    parts.reverse()
    return parts


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_TREE_SIZE


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof implies (RFC 9162 §2.1.3.2); ValueError if malformed."""
    if not (_is_size(index) and _is_size(size) and index < size):
        raise ValueError("leaf index must be below the tree size")
    if not _is_hash(leaf_hash) or not all(_is_hash(p) for p in proof):
        raise ValueError("hashes must be 32 bytes")
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff `proof` shows leaf `index` of the size-`size` tree with `root` is `leaf_hash`.

    Never raises: any malformed argument is simply not a proof.
    """
    if not _is_hash(root) or not isinstance(proof, Sequence):
        return False
    try:
        return root_from_inclusion(leaf_hash, index, size, proof) == root
    except ValueError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff `proof` shows the size-`old_size` tree is a prefix of the size-`new_size` one.

    RFC 9162 §2.1.4.2, plus the trivial cases it leaves out: equal sizes need equal roots and
    an empty proof; the empty tree (root SHA-256("")) is a prefix of every tree. Never raises.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)) or not isinstance(proof, Sequence):
        return False
    if not all(_is_hash(c) for c in proof):
        return False
    if old_size == 0:
        return old_root == EMPTY_ROOT and not proof
    if old_size == new_size:
        return old_root == new_root and not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(path[0])
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
