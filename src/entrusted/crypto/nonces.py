"""Ledger nonces from the kernel's random source, drawn in blocks.

Every audited decision needs 32 fresh random bytes. `os.urandom` lets go of the interpreter
lock around its system call, and with 64 threads deciding at once, each caller that lets go
waits its turn to get the lock back: in `bench policy` that hand-off cost more than the
bytes. A block of 1,024 nonces is read at once and dealt out one by one. The bytes are the
kernel's as they are, never stretched or reused: each nonce is dealt exactly once
(`deque.popleft` is atomic), and a forked child drops the parent's undealt block, which the
parent will deal too.
"""

from __future__ import annotations

import os
import weakref
from collections import deque

NONCE_SIZE = 32
BLOCK = 1024  # nonces per read: 32 KiB, one system call per thousand decisions

_pools: weakref.WeakSet[NoncePool] = weakref.WeakSet()


class NoncePool:
    """`pool(32)` is a fresh random nonce; other sizes go straight to `os.urandom`."""

    def __init__(self, block: int = BLOCK) -> None:
        if block < 1:
            raise ValueError("a block holds at least one nonce")
        self._block = block
        self._ready: deque[bytes] = deque()
        _pools.add(self)

    def __call__(self, size: int) -> bytes:
        if size != NONCE_SIZE:
            return os.urandom(size)
        try:
            return self._ready.popleft()
        except IndexError:
            pass
        data = os.urandom(NONCE_SIZE * self._block)
        fresh = [data[i : i + NONCE_SIZE] for i in range(0, len(data), NONCE_SIZE)]
        mine = fresh.pop()
        self._ready.extend(fresh)  # two threads refilling at once each add their own block
        return mine

    def forget(self) -> None:
        """Drop every nonce not yet dealt (a forked child must never deal its parent's)."""
        self._ready.clear()


def _after_fork_in_child() -> None:
    for pool in list(_pools):
        pool.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
