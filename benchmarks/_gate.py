"""The audited gate under load: decision + durable ledger append, 64 concurrent callers.

Used by `entrusted bench policy` (the "gate" key). Runs on a temporary SQLite installation
unless a database URL is given (PostgreSQL gets a private schema, dropped afterwards)."""

from __future__ import annotations

import threading
import time
from typing import Any

from entrusted.bootstrap import scratch_installation
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.errors import Refused
from entrusted.services.gate import AccessContext


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_gate(
    clients: int = 64, per_client: int = 400, database_url: str | None = None
) -> dict[str, Any]:
    with scratch_installation(database_url) as c:
        c.start("bench@localhost")
        member = c.staff.add("bench.support", "Bench Support", ["support"], "bench-password-1")
        actor = Actor(ActorKind.STAFF, member.id, member.roles)
        allowed = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner="cus_1")
        denied = Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1", owner="cus_1")
        ctx = AccessContext(case_id="case_1")
        for _ in range(50):  # warm-up: pools, caches, the writer thread
            c.gate.decide(actor, Action.LIST_METADATA, allowed, ctx)
        latencies: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(clients + 1)

        def worker(n: int) -> None:
            mine = []
            barrier.wait()
            for i in range(per_client):
                t0 = time.perf_counter()
                try:
                    if (i + n) % 4:
                        c.gate.decide(actor, Action.LIST_METADATA, allowed, ctx)
                    else:
                        c.gate.decide(actor, Action.READ, denied, ctx)
                except Refused:
                    pass
                mine.append(time.perf_counter() - t0)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
        for th in threads:
            th.start()
        barrier.wait()
        start = time.perf_counter()
        for th in threads:
            th.join()
        wall = time.perf_counter() - start
        latencies.sort()
        return {
            "clients": clients,
            "decisions": len(latencies),
            "audited_decisions_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(_percentile(latencies, 0.50) * 1000, 3),
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 3),
            "backend": c.engine.dialect.name,
            "ledger_batches": c.ledger.batches,
        }


if __name__ == "__main__":
    print(measure_gate())
