"""Same-run floors: what this machine can do at all, measured beside each benchmark's figures.

Absolute figures from a shared or different machine mean little (issue 13 saw 2-9x between two
machines of one kind), so every benchmark reports its figures beside these floors, taken in the
same run, and targets are ratios to them:

- `fsync_commits_per_s`: raw single-row commits, one durable transaction each, with the
  durability settings the ledger uses (SQLite WAL + `synchronous=FULL` through the same engine
  set-up; PostgreSQL with `synchronous_commit=on`), through the bare driver: what one commit
  per decision would cost. Always on SQLite (in the temp directory, where scratch
  installations live), and on PostgreSQL when the benchmark uses it;
- `hash_limit_per_s`: hashlib SHA-256 over 64-byte leaves in a bare loop, the ceiling for
  anything that hashes entries or tree nodes (verification, proofs);
- `dict_lookup_floor_us`: the p50 of one precomputed table lookup in Python, timed per call
  the way the policy benchmark times a decision: the floor for a decision;
- `load_average_1min`: the machine's load while they were taken.

`entrusted bench` loads benchmark files by path, without a package, so a benchmark loads this
file with `runpy.run_path` (no dataclasses here for that reason: they need `sys.modules`).
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db.engine import make_engine


def _commit_rate(conn: Any, insert: str, seconds: float) -> float:
    """Single-row commits per second on a raw DBAPI connection, for about `seconds`."""
    body = os.urandom(300)  # about the size of a ledger entry
    cur = conn.cursor()
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        cur.execute(insert, (done, body))
        conn.commit()
        done += 1
        if done % 8 == 0 and time.perf_counter() >= deadline:
            break
    return done / (time.perf_counter() - t0)


def fsync_commits_sqlite(seconds: float = 1.0) -> float:
    """Raw single-row commits on a fresh SQLite file, opened by the ledger's own engine set-up
    (WAL, synchronous=FULL): autocommit mode makes every INSERT its own durable commit."""
    with tempfile.TemporaryDirectory(prefix="entrusted-floor-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'floor.db'}")
        try:
            raw = engine.raw_connection()
            try:
                raw.cursor().execute("CREATE TABLE floor (idx INTEGER PRIMARY KEY, body BLOB)")
                return _commit_rate(raw, "INSERT INTO floor (idx, body) VALUES (?, ?)", seconds)
            finally:
                raw.close()
        finally:
            engine.dispose()


def fsync_commits_postgresql(database_url: str, seconds: float = 1.0) -> float:
    """Raw single-row commits on PostgreSQL with `synchronous_commit=on` (as the ledger's batch
    transactions set it), into a table of its own that is dropped afterwards."""
    table = f"entrusted_floor_{uuid.uuid4().hex[:12]}"
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {table} (idx BIGINT PRIMARY KEY, body BYTEA)"))
        try:
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("SET synchronous_commit = on")
                raw.commit()
                return _commit_rate(
                    raw, f"INSERT INTO {table} (idx, body) VALUES (%s, %s)", seconds
                )
            finally:
                raw.close()
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE {table}"))
    finally:
        engine.dispose()


def fsync_commits_per_s(database_url: str | None = None, seconds: float = 1.0) -> dict[str, int]:
    """The fsync floor per backend: SQLite always, PostgreSQL when `database_url` names it."""
    rates = {"sqlite": round(fsync_commits_sqlite(seconds))}
    if database_url is not None and sa.make_url(database_url).get_backend_name() == "postgresql":
        rates["postgresql"] = round(fsync_commits_postgresql(database_url, seconds))
    return rates


def hash_limit_per_s(count: int = 300_000) -> int:
    """hashlib SHA-256 over distinct 64-byte leaves, in a bare loop."""
    blob = os.urandom(64 * 1024)
    leaves = [blob[i : i + 64] for i in range(0, len(blob) - 64, 16)]
    leaves = (leaves * (count // len(leaves) + 1))[:count]
    sha = hashlib.sha256
    t0 = time.perf_counter()
    for leaf in leaves:
        sha(leaf).digest()
    return round(count / (time.perf_counter() - t0))


def dict_lookup_floor_us(count: int = 100_000) -> float:
    """p50 of one precomputed-table decision in µs, timed per call with `perf_counter_ns` as
    the policy benchmark times each engine: read the request's role, action and resource type,
    look the answer up. Nothing that decides can be faster."""
    roles = ("support", "sysadmin", "legal", "customer", "third_party")
    actions = ("read", "write", "export", "disclose", "restore", "list_metadata")
    types = ("Mailbox", "PersonalData", "Backup", "FtpSpace")
    rng = random.Random(13)
    table = {(r, a, t): rng.random() < 0.5 for r in roles for a in actions for t in types}
    requests = [
        {
            "principal": {"id": f"p-{i}", "role": rng.choice(roles)},
            "action": rng.choice(actions),
            "resource": {"type": rng.choice(types), "id": f"r-{i}"},
        }
        for i in range(count)
    ]

    def decide(req: dict[str, Any]) -> bool:
        return table[req["principal"]["role"], req["action"], req["resource"]["type"]]

    clock = time.perf_counter_ns
    latencies = [0] * count
    for req in requests[:2000]:
        decide(req)
    for i, req in enumerate(requests):
        t0 = clock()
        decide(req)
        latencies[i] = clock() - t0
    latencies.sort()
    return round(latencies[len(latencies) // 2] / 1000, 3)


def floors(database_url: str | None = None, quick: bool = False) -> dict[str, Any]:
    """All floors, as the top-level keys every benchmark's JSON carries."""
    seconds = 0.3 if quick else 1.0
    return {
        "fsync_commits_per_s": fsync_commits_per_s(database_url, seconds),
        "hash_limit_per_s": hash_limit_per_s(60_000 if quick else 300_000),
        "dict_lookup_floor_us": dict_lookup_floor_us(20_000 if quick else 100_000),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


FLOOR_KEYS = ("fsync_commits_per_s", "hash_limit_per_s", "dict_lookup_floor_us")
