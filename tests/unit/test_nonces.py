"""Ledger nonces drawn in blocks (`crypto.nonces`): each is 32 fresh bytes dealt once, also
to many threads at once, and a forked child never deals what its parent will."""

from __future__ import annotations

import os
import threading

import pytest

from entrusted.crypto.nonces import NONCE_SIZE, NoncePool

pytestmark = pytest.mark.promise("P3")


def test_a_nonce_is_32_bytes_and_other_sizes_come_straight_from_the_kernel() -> None:
    pool = NoncePool(block=4)
    assert [len(pool(NONCE_SIZE)) for _ in range(10)] == [32] * 10
    assert len(pool(16)) == 16
    with pytest.raises(ValueError):
        NoncePool(block=0)


def test_no_nonce_is_dealt_twice_across_threads() -> None:
    pool = NoncePool(block=64)  # small blocks: many refills race each other
    drawn: list[list[bytes]] = [[] for _ in range(8)]

    def draw(mine: list[bytes]) -> None:
        mine.extend(pool(NONCE_SIZE) for _ in range(4000))

    threads = [threading.Thread(target=draw, args=(mine,)) for mine in drawn]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    every = [n for mine in drawn for n in mine]
    assert len(every) == 32_000
    assert len(set(every)) == len(every)


def test_a_forked_child_never_deals_its_parents_block() -> None:
    pool = NoncePool(block=16)
    pool(NONCE_SIZE)  # the parent now holds 15 undealt nonces
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first nonce and leave at once
        try:
            os.write(write_end, pool(NONCE_SIZE))
        finally:
            os._exit(0)
    os.close(write_end)
    child_first = os.read(read_end, NONCE_SIZE)
    os.close(read_end)
    os.waitpid(pid, 0)
    parents_rest = [pool(NONCE_SIZE) for _ in range(15)]
    assert len(child_first) == NONCE_SIZE
    assert child_first not in parents_rest
