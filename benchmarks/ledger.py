"""Ledger throughput and latency, measured in one run (shared/research/anchors-ledger.md §4).

Phases, in order, on one fresh installation per database: a temp SQLite file always (or the
SQLite database given by URL), and a private schema on the PostgreSQL server when the URL
names one, dropped afterwards. Each database's figures sit under `ledger.<backend>`
(`{"ledger": {"sqlite": {...}, "postgresql": {...}}}`), with the ratios issue 13 targets:
`group_commit.vs_fsync` (appends/s over the same run's fsync floor of that database) and
`verify_vs_hash_limit` (entries verified per second over `hash_limit_per_s`).

1. group commit: 64 threads each append entries one by one and wait for the durable ack (the
   gate's path: `Ledger.append`, canonical JSON serialised in the caller);
2. single client: one thread appending alone (no batching window delays it);
3. bulk: replaying already-serialised entries through the batch API, 10,000 per call, until the
   log holds 1,000,000 entries (the figure is over this whole phase);
4. the bare hash limit: a hashlib leaf-hash loop over the same bodies, the ceiling for (5)
   (`hash_limit_bodies_per_s`; `hash_limit_per_s` is the floors' loop over 64-byte leaves);
5. full verification (`ledger verify`) of the whole log and its checkpoints, as the command
   runs it: with a second process checking part of the entries on a machine with two cores
   or more (`verify_processes` says how many did);
6. inclusion and consistency proofs against the 1,000,000-entry tree, from a cold process-level
   cache for level 0 (random indexes), as a proof server would see them;
7. the monitor (`ledger monitor`'s `prove_consistent`) following the whole log in steps of
   1,000 entries, folding every proof from tiles read from the database (cold tile cache, no
   HTTP, as the verifier of phase 5 reads them): entries covered per second;
8. witness cosigning: a real `entrusted witness serve` process on loopback; checkpoints are
   signed alternately without and with it (100 new entries before each), and the figure is
   the difference of the two medians.

Before them, the same run's floors (`_floors.py`): `fsync_commits_per_s` (SQLite, and
PostgreSQL when it is the database), `hash_limit_per_s`, `dict_lookup_floor_us`,
`load_average_1min`; group commit is judged as a ratio to `fsync_commits_per_s`.

`quick` shrinks every phase (50,000 entries) for a smoke run.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import runpy
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.adapters.ledger_record import LocalRecordFile
from entrusted.adapters.witness_cosignatures import SqlCosignatureStore
from entrusted.adapters.witness_http import HttpWitness
from entrusted.adapters.witness_store import init_witness_dir
from entrusted.bootstrap import LEDGER_RECORD, Container, scratch_installation
from entrusted.crypto.signing import load_signer
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint
from entrusted.services.ledger import CheckpointService
from entrusted.services.ledger_monitor import prove_consistent
from entrusted.services.witness_submit import ConfiguredWitness, WitnessSubmitter

_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # no package to import
CLIENTS = 64
BULK_BATCH = 10_000  # entries per batch-API call: what a replay tool would send
CUSTOMERS = [f"cus_{i}" for i in range(1000)]


def _entry(i: int) -> AuditEntry:
    return AuditEntry(
        time=datetime.now(UTC),
        actor_kind="staff",
        actor_id=f"stf_{i % 200}",
        actor_roles=("support",),
        action="list_metadata",
        resource_kind="mailbox_metadata",
        resource_id=f"mbx_{i % 5000}",
        owner=CUSTOMERS[i % len(CUSTOMERS)],
        decision="allow",
        rule="support-list-mailbox-metadata",
        reason="support may list mailbox metadata",
        refs={"case": f"case_{i % 977}"},
        nonce=os.urandom(32),
    )


def _bodies(start: int, count: int) -> list[tuple[bytes, str | None]]:
    """Serialised entries, fast: one template per customer with a fresh nonce spliced in."""
    templates = [(_entry(i).to_bytes(), CUSTOMERS[i]) for i in range(len(CUSTOMERS))]
    marker = b'"nonce":"'
    out = []
    for i in range(start, start + count):
        body, owner = templates[i % len(templates)]
        at = body.index(marker) + len(marker)
        out.append((body[:at] + os.urandom(32).hex().encode() + body[at + 64 :], owner))
    return out


def _ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def _group_commit(c: Container, per_client: int) -> dict[str, Any]:
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)

    def client(k: int) -> None:
        entries = [_entry(k * per_client + i) for i in range(per_client)]
        mine = []
        start.wait()
        for e in entries:
            t0 = time.perf_counter()
            c.ledger.append(e)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for th in threads:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    return {
        "clients": CLIENTS,
        "appends_per_s": round(len(latencies) / elapsed),
        "p50_ms": _ms(latencies, 0.5),
        "p99_ms": _ms(latencies, 0.99),
    }


def _single_client(c: Container, count: int) -> dict[str, Any]:
    entries = [_entry(i) for i in range(count)]
    latencies = []
    for e in entries:
        t0 = time.perf_counter()
        c.ledger.append(e)
        latencies.append(time.perf_counter() - t0)
    return {"p50_ms": _ms(latencies, 0.5)}


def _bulk(c: Container, target: int) -> tuple[float, list[bytes]]:
    """Append until the log holds `target` entries, signing a checkpoint after each 100,000
    (untimed, as the worker would); the rate, and a sample of the bodies."""
    start = done = c.ledger_store.stored_size()
    elapsed = 0.0
    sample: list[bytes] = []
    while done < target:
        items = _bodies(done, min(100_000, target - done))  # made outside the timing
        if len(sample) < 200_000:
            sample.extend(body for body, _ in items)
        t0 = time.perf_counter()
        for k in range(0, len(items), BULK_BATCH):
            c.ledger.append_raw(items[k : k + BULK_BATCH])
        elapsed += time.perf_counter() - t0
        done += len(items)
        c.checkpoints.sign()
    return (done - start) / elapsed if elapsed else 0.0, sample


def _hash_limit(bodies: list[bytes]) -> float:
    sha = hashlib.sha256
    t0 = time.perf_counter()
    for body in bodies:
        sha(b"\x00" + body).digest()
    return len(bodies) / (time.perf_counter() - t0)


def _proofs(c: Container, size: int, count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    store = SqlLedgerStore(c.engine)  # a fresh tile cache, as a newly started proof server
    store.open()
    rng = random.Random(1)
    inclusion, consistency = [], []
    for _ in range(count):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        store.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - t0)
        old = rng.randrange(1, size)
        t0 = time.perf_counter()
        store.consistency_proof(old, size)
        consistency.append(time.perf_counter() - t0)
    return (
        {"size": size, "p50_ms": _ms(inclusion, 0.5), "p99_ms": _ms(inclusion, 0.99)},
        {"p50_ms": _ms(consistency, 0.5)},
    )


class _StoredTiles:
    """The monitor's tile source, reading the log's tiles straight from the database."""

    def __init__(self, store: SqlLedgerStore) -> None:
        self.store = store

    def checkpoint(self) -> str:
        latest = self.store.latest_checkpoint()
        return "" if latest is None else latest.note

    def tile(self, level: int, index: int, width: int | None) -> bytes:
        return self.store.tile(level, index, width)


def _monitor_rate(c: Container, size: int, step: int = 1000) -> float:
    store = SqlLedgerStore(c.engine)  # a cold cache, as a monitor's first pass
    store.open()
    sizes = [*range(step, size, step), size]
    heads = [Checkpoint(c.checkpoints.origin, n, c.ledger_store.root_at(n)) for n in sizes]
    source = _StoredTiles(store)
    t0 = time.perf_counter()
    for old, new in itertools.pairwise(heads):
        prove_consistent(source, old, new)
    return (sizes[-1] - sizes[0]) / (time.perf_counter() - t0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _witness_process(log_vkey: str) -> Iterator[tuple[str, str]]:
    """`entrusted witness serve` in a process of its own, trusting the log; (URL, vkey)."""
    with tempfile.TemporaryDirectory(prefix="entrusted-witness-") as tmp:
        vkey, store = init_witness_dir(Path(tmp), "witness.bench.example/w1")
        store.trust(log_vkey)
        port = _free_port()
        main = "from entrusted.entrypoints.cli.main import main; main()"
        proc = subprocess.Popen(
            [sys.executable, "-c", main, "witness", "serve", tmp, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/vkey").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the witness process did not start")
                time.sleep(0.05)
            yield url, vkey
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _witness_cosign_ms(c: Container, rounds: int) -> float:
    """Median signing time with one witness minus median without, alternating on one log."""
    signer = load_signer(c.settings.effective_ledger_key_file)
    with _witness_process(signer.vkey) as (url, vkey):
        client = HttpWitness(url)
        try:
            submitter = WitnessSubmitter(
                [ConfiguredWitness(vkey, client)],
                SqlCosignatureStore(c.engine),
                c.ledger_store.consistency_proof,
                c.clock,
                lambda _w, reason: print(reason, file=sys.stderr),
            )
            witnessed = CheckpointService(
                c.ledger_store,
                signer,
                c.clock,
                c.job_lock(),
                LocalRecordFile(c.settings.data_dir / LEDGER_RECORD, signer),
                witnesses=submitter,
            )
            plain: list[float] = []
            cosigned: list[float] = []
            done = c.ledger_store.stored_size()
            for _ in range(rounds):
                for service, times in ((c.checkpoints, plain), (witnessed, cosigned)):
                    c.ledger.append_raw(_bodies(done, 100))
                    done += 100
                    t0 = time.perf_counter()
                    service.sign(force=True)
                    times.append(time.perf_counter() - t0)
        finally:
            submitter.close()
            client.close()
    return round((statistics.median(cosigned) - statistics.median(plain)) * 1000, 3)


def _phases(database_url: str | None, quick: bool, floors: dict[str, Any]) -> dict[str, Any]:
    """Phases 1-8 on one fresh installation of one database, with the ratios to the same
    run's floors that issue 13's targets are stated in."""
    size = 50_000 if quick else 1_000_000
    with scratch_installation(database_url) as c:
        c.ledger.start()
        backend = c.engine.dialect.name
        group = _group_commit(c, 20 if quick else 500)
        fsync = floors["fsync_commits_per_s"][backend]
        group["vs_fsync"] = round(group["appends_per_s"] / fsync, 2)  # target >= 5
        single = _single_client(c, 50 if quick else 500)
        c.checkpoints.sign()
        bulk, sample = _bulk(c, size)
        hash_limit = _hash_limit(sample)
        t0 = time.perf_counter()
        report = verify_ledger(c.engine, c.checkpoints.vkey)
        verify_rate = report.size / (time.perf_counter() - t0)
        inclusion, consistency = _proofs(c, report.size, 200 if quick else 2000)
        monitor_rate = _monitor_rate(c, report.size)
        cosign_ms = _witness_cosign_ms(c, 20 if quick else 100)
        return {
            "backend": backend,
            "group_commit": group,
            "single_client": single,
            "bulk_appends_per_s": round(bulk),
            "verify_entries_per_s": round(verify_rate),
            "verify_vs_hash_limit": round(verify_rate / floors["hash_limit_per_s"], 2),  # >= 0.5
            "verify_processes": report.processes,
            "hash_limit_bodies_per_s": round(hash_limit),
            "inclusion_proof": inclusion,
            "consistency_proof": consistency,
            "monitor_entries_per_s": round(monitor_rate),
            "witness_cosign_ms": cosign_ms,
        }


def run(database_url: str | None = None, quick: bool = False) -> dict[str, Any]:
    """Every phase on SQLite (a temp file, or `database_url` when it names SQLite), and again
    on PostgreSQL when `database_url` names it: `{"ledger": {"sqlite": {...}, "postgresql":
    {...}}}` beside the floors, which are taken first."""
    floors = _floors["floors"](database_url, quick)
    urls: dict[str, str | None] = {"sqlite": None}
    if database_url is not None:
        urls[sa.make_url(database_url).get_backend_name()] = database_url
    return {"ledger": {name: _phases(url, quick, floors) for name, url in urls.items()}, **floors}
