"""The proof verifiers: corrupted known proofs and hypothesis-mutated proofs never verify,
and garbage never raises."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrusted.domain.ledger import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from tests.unit.test_ledger_merkle import (
    BIG,
    BIG_NODES,
    KAT_CONSISTENCY,
    KAT_INCLUSION,
    KAT_LEAVES,
    KAT_ROOTS,
    SOME_HASH,
    mth,
    oracle,
    ref_directions,
    ref_subproof,
)

pytestmark = pytest.mark.promise("P3", "P14")

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
