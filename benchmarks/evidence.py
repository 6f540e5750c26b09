"""The evidence report over a big ledger (issue 19): `entrusted bench evidence --json`.

One fresh installation (a temp SQLite file, or a private schema on the PostgreSQL server given
by URL); the ledger is filled through the batch path (`Ledger.append_raw`, as the ledger
benchmark's bulk phase) with `entries` realistic entries spread over 30 days of one month:
metadata looks, grants opened and ended (by resolution, revocation, the backstop timer), staff
logins refused without a grant, entries into mailboxes and FTP spaces under a grant, refusals
of support at backups and of third parties, bulk exports refused, backups taken and keys
destroyed. A checkpoint is signed over it, untimed. Then, timed:

- `report_s`: `EvidenceService.report` for that month, end to end (signed head, the one scan
  and tally, every figure, the policy invariants, the database facts, red flags), and
  `report_cpu_s`, the CPU time it took: on a shared machine the wall time mostly says how
  busy the others were;
- `ledger_scan_entries_per_s`: the report's scan alone (the snapshot reader and the tally),
  entries per second;
- `scan_floor_entries_per_s`, the same run's floor: the bare driver iterating
  `SELECT idx, body FROM ledger_entry` and `json.loads` of each body, nothing else; no scan
  that decodes every entry with `json.loads` can beat it (`scan_floor_cpu_s`: its CPU time,
  to set beside `report_cpu_s`); the report's tally reads canonical entries by splitting them
  at their quotes instead (`services/evidence_tally.py`), so it may beat this one, though
  not the next;
- `fetch_floor_entries_per_s`: the same driver loop fetching the bodies without decoding
  them, the floor of any scan of the log;
- `verify_entries_per_s`, the peer: `ledger verify` (re-hashing every entry) over the same log.

Beside them the floors every benchmark carries (`_floors.py`). Target: `report_s` < 10 s for
1,000,000 entries on this machine.
"""

from __future__ import annotations

import json
import os
import runpy
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db.evidence_store import entry_chunks
from entrusted.adapters.db.ledger_verify import verify_ledger
from entrusted.bootstrap import Container, scratch_installation
from entrusted.bootstrap.evidence import build_evidence
from entrusted.domain.audit import AuditEntry
from entrusted.services.evidence_figures import figure_specs, reason_rules
from entrusted.services.evidence_tally import tally
from entrusted.services.outcomes import Outcome

_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # no package to import
MONTH = (date(2026, 11, 1), date(2026, 12, 1))
BATCH = 10_000  # entries per batch-API call, as the ledger benchmark's bulk phase
CUSTOMERS = [f"cus_{i}" for i in range(1000)]
TIME_LEN = len("2026-11-01T00:00:00.000000+00:00")


def _kinds() -> list[dict[str, Any]]:
    """The entry shapes the log is filled with (fields of `AuditEntry`), weighted by repeats."""
    meta = {
        "actor_kind": "staff",
        "actor_roles": ("support",),
        "action": "list_metadata",
        "resource_kind": "mailbox_metadata",
        "decision": "allow",
        "rule": "support-list-mailbox-metadata",
        "reason": "support may list mailbox metadata",
        "refs": {"case": "case_1"},
    }
    ended = {
        "actor_kind": "system",
        "action": "end",
        "resource_kind": "grant",
        "decision": "allow",
        "rule": Outcome.GRANT_ENDED.value,
        "refs": {"case": "case_1", "grant": "grt_1"},
    }
    return [
        *[meta] * 6,
        {**meta, "decision": "deny", "rule": "default-deny", "reason": "no rule allows it"},
        {
            "actor_kind": "staff",
            "actor_roles": ("support",),
            "action": "enter",
            "resource_kind": "mailbox_content",
            "decision": "allow",
            "rule": "support-enter-mailbox-under-grant",
            "reason": "under the customer's grant",
            "refs": {"case": "case_1", "grant": "grt_1"},
        },
        {
            "actor_kind": "staff",
            "actor_roles": ("support",),
            "action": "enter",
            "resource_kind": "ftp_space",
            "decision": "allow",
            "rule": "support-enter-ftp-under-grant",
            "reason": "under the customer's grant",
            "refs": {"case": "case_1", "grant": "grt_1"},
        },
        {
            "actor_kind": "staff",
            "action": "enter",
            "resource_kind": "mailbox_content",
            "decision": "deny",
            "rule": Outcome.MAIL_NO_GRANT.value,
            "reason": "no live grant for this mailbox",
        },
        {
            "actor_kind": "customer",
            "action": "approve",
            "resource_kind": "grant",
            "decision": "allow",
            "rule": Outcome.GRANTED.value,
            "reason": "the customer approved",
            "refs": {"case": "case_1", "grant": "grt_1"},
        },
        {**ended, "reason": "grant ended: case_resolved"},
        {**ended, "reason": "grant ended: revoked"},
        {**ended, "reason": "grant ended: expired"},
        {
            "actor_kind": "staff",
            "actor_roles": ("support",),
            "action": "read",
            "resource_kind": "backup",
            "decision": "deny",
            "rule": "forbid-support-backups",
            "reason": "only sysadmins may access backups",
        },
        {
            "actor_kind": "third_party",
            "action": "read",
            "resource_kind": "personal_details",
            "decision": "deny",
            "rule": "default-deny",
            "reason": "no rule allows it",
        },
        {
            "actor_kind": "staff",
            "action": "export",
            "resource_kind": "customer_file",
            "decision": "deny",
            "rule": Outcome.NO_BULK_EXPORT.value,
            "reason": "the customer file is never exported in bulk",
        },
        {
            "actor_kind": "system",
            "action": "backup",
            "resource_kind": "backup",
            "decision": "allow",
            "rule": Outcome.BACKUP_TAKEN.value,
            "reason": "backup sealed",
        },
        {
            "actor_kind": "system",
            "action": "destroy",
            "resource_kind": "backup",
            "decision": "allow",
            "rule": Outcome.BACKUP_KEY_DESTROYED.value,
            "reason": "day key destroyed after 7 days",
        },
    ]


def _templates() -> list[tuple[bytes, int, int, str]]:
    """Per (shape, customer): canonical bytes, where its time and nonce sit, its owner."""
    start = datetime.combine(MONTH[0], datetime.min.time(), UTC)
    out = []
    for k, shape in enumerate(_kinds()):
        for customer in CUSTOMERS[:50]:
            entry = AuditEntry(
                time=start,
                actor_id=f"stf_{k}",
                resource_id=f"res_{customer}",
                owner=customer,
                nonce=bytes(32),
                **shape,
            )
            body = entry.to_bytes()
            at_time = body.index(b'"time":"') + len(b'"time":"')
            at_nonce = body.index(b'"nonce":"') + len(b'"nonce":"')
            out.append((body, at_time, at_nonce, customer))
    return out


def _bodies(start: int, count: int, total: int) -> list[tuple[bytes, str | None]]:
    """Entries start..start+count-1, spread evenly over the month, each with a fresh nonce."""
    templates = _templates()
    first = datetime.combine(MONTH[0], datetime.min.time(), UTC)
    step = (MONTH[1] - MONTH[0]).total_seconds() / max(total, 1)
    out: list[tuple[bytes, str | None]] = []
    for i in range(start, start + count):
        body, at_time, at_nonce, owner = templates[(i * 7919) % len(templates)]
        when = (first + timedelta(seconds=i * step)).isoformat(timespec="microseconds")
        assert len(when) == TIME_LEN
        nonce = os.urandom(32).hex().encode()
        parts = sorted([(at_time, when.encode(), TIME_LEN), (at_nonce, nonce, 64)])
        new, pos = [], 0
        for at, value, length in parts:
            new += [body[pos:at], value]
            pos = at + length
        new.append(body[pos:])
        out.append((b"".join(new), owner))
    return out


def _fill(c: Container, total: int) -> float:
    """Fill the log to `total` entries through the batch path; the append rate."""
    elapsed = 0.0
    done = c.ledger_store.stored_size()
    while done < total:
        items = _bodies(done, min(100_000, total - done), total)  # made outside the timing
        t0 = time.perf_counter()
        for k in range(0, len(items), BATCH):
            c.ledger.append_raw(items[k : k + BATCH])
        elapsed += time.perf_counter() - t0
        done += len(items)
    c.checkpoints.sign()
    return total / elapsed if elapsed else 0.0


def _scan_floor(engine: sa.Engine, size: int, decode: bool) -> float:
    """The bare driver: every body of [0, size) fetched (and with `decode`, JSON-decoded),
    nothing else."""
    loads = json.loads
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        t0 = time.perf_counter()
        seen = 0
        if engine.dialect.name == "sqlite":
            cur.execute("SELECT idx, body FROM ledger_entry WHERE idx < ?", (size,))
            for _, body in cur:
                if decode:
                    loads(body)
                seen += 1
        else:  # psycopg would hold a million rows in memory: read in slices, as the report
            for lo in range(0, size, 16_384):
                cur.execute(
                    "SELECT idx, body FROM ledger_entry WHERE idx >= %s AND idx < %s",
                    (lo, min(size, lo + 16_384)),
                )
                for _, body in cur.fetchall():
                    if decode:
                        loads(bytes(body))
                    seen += 1
        elapsed = time.perf_counter() - t0
    finally:
        raw.close()
    assert seen == size, (seen, size)
    return size / elapsed


def _scan_rate(c: Container, size: int) -> float:
    since, until = (datetime.combine(d, datetime.min.time(), UTC) for d in MONTH)
    rules = reason_rules(figure_specs(c.ruleset, since, until))
    t0 = time.perf_counter()
    found = tally(entry_chunks(c.engine, size), rules)
    elapsed = time.perf_counter() - t0
    assert found.scanned == size
    return size / elapsed


def run(
    database_url: str | None = None, quick: bool = False, entries: int | None = None
) -> dict[str, Any]:
    size = entries or (20_000 if quick else 1_000_000)
    floors = _floors["floors"](database_url, quick)  # the same run's floors, taken first
    with scratch_installation(database_url) as c:
        c.ledger.start()
        append_rate = _fill(c, size)
        stored = c.ledger_store.stored_size()
        evidence = build_evidence(c)
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = evidence.report(*MONTH)
        report_s, report_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        figures = {f.key: f.value for f in report.figures()}
        scan_rate = _scan_rate(c, stored)
        cpu0 = time.process_time()
        floor_rate = _scan_floor(c.engine, stored, decode=True)
        floor_cpu_s = time.process_time() - cpu0
        fetch_rate = _scan_floor(c.engine, stored, decode=False)
        t0 = time.perf_counter()
        verified = verify_ledger(c.engine, c.checkpoints.vkey)
        verify_rate = verified.size / (time.perf_counter() - t0)
        return {
            "backend": c.engine.dialect.name,
            "entries": report.checkpoint.size,
            "report_s": round(report_s, 3),
            "report_cpu_s": round(report_cpu_s, 3),
            "ledger_scan_entries_per_s": round(scan_rate),
            "scan_floor_entries_per_s": round(floor_rate),
            "scan_floor_cpu_s": round(floor_cpu_s, 3),
            "fetch_floor_entries_per_s": round(fetch_rate),
            "verify_entries_per_s": round(verify_rate),
            "bulk_appends_per_s": round(append_rate),
            "figures": len(figures),
            "entries_in_period": figures["P3.entries"],
            **floors,
        }
