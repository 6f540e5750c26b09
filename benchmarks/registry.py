"""Customer registry: import throughput and lookup-by-e-mail latency, measured in one run.

On one fresh installation (a temp SQLite file, or a private schema on the PostgreSQL server
given by URL, dropped afterwards):

1. import: `RegistryService.import_customers` over 100,000 fake rows (5,000 with `quick`) as an
   operator would run `entrusted customers import`: every row validated (email-validator,
   phonenumbers), one gate decision per customer appended to the ledger in one batch, a fresh
   data key per customer wrapped by the master key, five AES-GCM fields and three blind
   indexes per row, all written in one transaction. Passwords are not hashed (customers set
   them through the e-mailed link later), so argon2 is not in this figure;
2. lookup by e-mail: what support's search does below the gate, for random customers: normalise
   the typed address, compute its blind index, select the row by the unique index in its own
   unit of work, unwrap the data key and decrypt the name; p50 and p99 in microseconds;
3. for reference, the same lookup through `RegistryService.find` (the gate's two decisions and
   their durable ledger appends included): `find_via_gate_p50_us`, beside one caller's bare
   durable append in the same installation (`ledger_single_append_p50_us`);
4. the same run's floors (`_floors.py`), taken first.

The fake people use example.com addresses and +41 44 00x xx xx / +41 79 00x xx xx numbers.
"""

from __future__ import annotations

import os
import random
import runpy
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faker import Faker

from entrusted.adapters.contacts import Contacts
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container, scratch_installation
from entrusted.crypto.blind_index import email_index
from entrusted.crypto.personal import open_name
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.services.gate import AccessContext

OPERATOR = Actor(ActorKind.SERVICE, "cli:bench@localhost")
_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # no package to import


def _rows(count: int, seed: int = 7) -> list[dict[str, str | None]]:
    fake = Faker("de_CH")
    fake.seed_instance(seed)
    firsts = [fake.first_name() for _ in range(500)]
    lasts = [fake.last_name() for _ in range(500)]
    rows: list[dict[str, str | None]] = []
    for i in range(count):
        first, last = firsts[i % 500], lasts[(i * 7) % 500]
        rows.append(
            {
                "last_name": last,
                "first_name": first,
                "email": f"customer{i}@example.com",
                "phone": f"+41 44 00{i // 10000 % 10} {i // 100 % 100:02d} {i % 100:02d}",
                "mobile": f"+41 79 00{i // 10000 % 10} {i // 100 % 100:02d} {i % 100:02d}",
            }
        )
    return rows


def _us(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1)


def _lookups(c: Container, emails: list[str]) -> list[float]:
    keys = c.registry_keys()
    contacts = Contacts()
    samples = []
    for email in emails:
        t0 = time.perf_counter()
        idx = email_index(keys.index_key, contacts.email(email, "email"))
        with SqlUnitOfWork(c.engine) as uow:
            found = uow.customers.by_email_index(idx)
        assert found is not None
        open_name(keys, found)
        samples.append(time.perf_counter() - t0)
    return samples


def _single_appends(c: Container, count: int) -> list[float]:
    """One caller appending alone: the durable append a find through the gate waits for."""
    samples = []
    for n in range(count):
        entry = AuditEntry(
            time=datetime.now(UTC),
            actor_kind="service",
            actor_id="bench",
            actor_roles=(),
            action="find",
            resource_kind="personal_details",
            resource_id=f"cus_{n}",
            owner=f"cus_{n}",
            decision="allow",
            rule="bench",
            reason="bench",
            refs={},
            nonce=os.urandom(32),
        )
        t0 = time.perf_counter()
        c.ledger.append(entry)
        samples.append(time.perf_counter() - t0)
    return samples


def run(database_url: str | None = None, quick: bool = False) -> dict[str, Any]:
    count = 5_000 if quick else 100_000
    rows = _rows(count)
    floors = _floors["floors"](database_url, quick)
    with scratch_installation(database_url) as c:
        c.ledger.start()
        t0 = time.perf_counter()
        ids = c.registry.import_customers(OPERATOR, rows)
        import_rate = len(ids) / (time.perf_counter() - t0)
        rng = random.Random(11)
        picks = [str(rows[rng.randrange(count)]["email"]).upper() for _ in range(2000)]
        _lookups(c, picks[:100])  # warm the pool and the page cache
        samples = _lookups(c, picks)
        # Look-ups are throttled per agent (`support_lookups_per_minute`), so 200 finds are
        # spread over enough agents to stay under it; each names a ticket, as support must.
        per_agent = c.settings.support_lookups_per_minute
        agents = []
        for n in range(-(-200 // per_agent)):
            member = c.staff.add(
                f"bench.support{n}", "Bench Support", ["support"], "bench-password-123"
            )
            agents.append(Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT})))
        ticket = AccessContext(ticket="BENCH-1")
        via_gate = []
        for n, email in enumerate(picks[:200]):
            t1 = time.perf_counter()
            (_found,) = c.registry.find(agents[n // per_agent], email=email, context=ticket)
            via_gate.append(time.perf_counter() - t1)
        return {
            "backend": c.engine.dialect.name,
            "customers": len(ids),
            "import_customers_per_s": round(import_rate),
            "lookup_by_email_p50_us": _us(samples, 0.5),
            "lookup_by_email_p99_us": _us(samples, 0.99),
            "find_via_gate_p50_us": _us(via_gate, 0.5),
            # Measured right after the finds: the target is find <= 2x one append.
            "ledger_single_append_p50_us": _us(_single_appends(c, 200), 0.5),
            **floors,
        }
