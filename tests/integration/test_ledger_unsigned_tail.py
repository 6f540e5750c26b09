"""The bounded unsigned tail, on both databases: with `serve`'s tail signer running, a signed
checkpoint covers every acknowledged append within one second, under load from many threads."""

from __future__ import annotations

import bisect
import threading
import time

import pytest

from entrusted.bootstrap import Container
from tests.integration.ledger_support import audit_entry

pytestmark = pytest.mark.promise("P3")

LOAD_S = 3.0
BOUND_S = 1.0


def test_a_checkpoint_follows_every_append_within_a_second(container: Container) -> None:
    container.start("ops@example.com", sign_tail=True)
    stop = time.monotonic() + LOAD_S
    acks: list[tuple[float, int]] = []  # (acknowledged at, index)
    signed: list[tuple[float, int]] = [(0.0, 0)]  # (seen at, largest signed size)
    lock = threading.Lock()

    def append(k: int) -> None:
        i = 0
        while time.monotonic() < stop:
            receipts = container.ledger.append_many(
                [audit_entry(k * 1_000_000 + i + j, "cus_1") for j in range(5)]
            )
            now = time.monotonic()
            with lock:
                acks.append((now, max(r.index for r in receipts)))
            i += 5

    def watch() -> None:
        while time.monotonic() < stop + 2 * BOUND_S:
            latest = container.ledger_store.latest_checkpoint()
            size = 0 if latest is None else latest.size
            signed.append((time.monotonic(), max(size, signed[-1][1])))
            time.sleep(0.01)

    threads = [threading.Thread(target=append, args=(k,)) for k in range(8)]
    threads.append(threading.Thread(target=watch))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(acks) > 50
    sizes = [size for _, size in signed]
    lags = []
    for at, index in acks:
        first = bisect.bisect_right(sizes, index)  # the first observation covering the entry
        assert first < len(signed), f"entry {index} was never covered by a checkpoint"
        lags.append(signed[first][0] - at)
    worst = max(lags)
    assert worst <= BOUND_S, f"an append waited {worst:.3f} s for its checkpoint"
