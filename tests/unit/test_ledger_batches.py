"""The sequencer's and the auditor's fast paths agree with the slow, obvious definitions."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime

import pytest

from entrusted.domain.audit import AuditEntry, first_misfiled
from entrusted.domain.ledger import TILE_HEIGHT, CompactRange, leaf_hash

pytestmark = pytest.mark.promise("P3")


@pytest.mark.parametrize("sizes", [(1,), (255, 1), (256,), (70_000,), (1, 65_535, 300, 4)])
def test_extend_tiles_matches_append_with_a_node_filter(sizes: tuple[int, ...]) -> None:
    fast, slow = CompactRange(), CompactRange()
    seen: list[tuple[int, int, bytes]] = []

    def keep(height: int, index: int, h: bytes) -> None:
        if height and height % TILE_HEIGHT == 0:
            seen.append((height, index, h))

    got: list[tuple[int, int, bytes]] = []
    n = 0
    for size in sizes:
        hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n, n + size)]
        got += fast.extend_tiles(hashes)
        slow.extend(hashes, keep)
        n += size
        assert fast == slow
        assert fast.root() == slow.root()
    assert got == seen
    assert [h for h, _, _ in got].count(16) == n // 65_536


def test_extend_tiles_refuses_bad_hashes_without_changing_state() -> None:
    cr = CompactRange()
    cr.extend_tiles([leaf_hash(b"a")])
    with pytest.raises(ValueError, match="32 bytes"):
        cr.extend_tiles([leaf_hash(b"b"), b"short"])
    assert cr.size == 1


def entry(customer: str | None, **refs: str) -> AuditEntry:
    return AuditEntry(
        time=datetime(2026, 11, 27, tzinfo=UTC),
        actor_kind="staff",
        actor_id="stf_1",
        action="read",
        resource_kind="mailbox_content",
        resource_id='mbx_"owner":"cus_9"}',  # hostile ids cannot fake the filing
        owner=customer,
        decision="allow",
        reason='reason "owner":"cus_9"}',
        refs=refs,
        nonce=os.urandom(32),
    )


def test_first_misfiled_reads_the_owner_exactly() -> None:
    entries = [entry("cus_1"), entry(None), entry("cüs_ü"), entry("cus_2", owner="cus_9")]
    bodies = [e.to_bytes() for e in entries]
    owners = [e.owner for e in entries]
    assert first_misfiled(bodies, owners) is None
    for i in range(len(entries)):
        for wrong in ("cus_9", None, "cus_1x", 7, b"cus_1"):
            if wrong == owners[i]:
                continue
            filed = list(owners)
            filed[i] = wrong
            assert first_misfiled(bodies, filed) == i, (i, wrong)


def test_first_misfiled_on_bodies_that_are_not_entries() -> None:
    rng = random.Random(3)
    bodies = [rng.randbytes(50) for _ in range(10)]
    assert first_misfiled(bodies, [None] * 10) is None
    assert first_misfiled(bodies, [None] * 9 + ["cus_1"]) == 9
