"""`entrusted evidence verify`: recompute an evidence report's figures from the published log.

Why anyone can: the report carries the signed checkpoint its ledger figures were counted
against, and each figure its `LedgerQuery`. The verifier trusts only the log's key:

1. the report's checkpoint note must be signed by the log's key and say the size and root the
   report claims (an edited root or size fails here);
2. the log's checkpoint today must be signed too and, proved from the public tiles, extend the
   report's (the log was not rewritten since: `ledger monitor`'s proof);
3. the entry bundles [0, size) are fetched (they pass the log's gate: the verifier needs a
   token the rules let read the ledger, e.g. legal's) and their leaf hashes must fold into the
   signed root, so the entries counted are exactly the log's;
4. each ledger figure is recounted entry by entry with the same `LedgerQuery.matches` the
   report was made with, and must equal the report's value. Database figures (overdue backups,
   signed checkpoints) are not in the log: they are listed as not recomputable.

A failed step 1-3 raises `TamperDetected`; figures that differ are returned, and the entrypoint
fails naming each of them.

>>> outcome = verify_report(report, reader, vkeys=None)  # doctest: +SKIP
>>> [c.key for c in outcome.mismatches]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from entrusted.crypto.signing import log_origin, verify_note
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint, b64encode
from entrusted.domain.evidence import EvidenceReport, FigureSource, LedgerQuery
from entrusted.domain.ledger import TILE_WIDTH, CompactRange, leaf_hash
from entrusted.errors import TamperDetected
from entrusted.services.ledger_monitor import prove_consistent

NOT_RECOMPUTABLE = "not recomputable from the log"


class PublishedLog(Protocol):
    """A log's public tiles and checkpoint, its key list, and the entry bundles a token may
    read (`adapters/ledger_bundles.py`)."""

    def checkpoint(self) -> str: ...
    def tile(self, level: int, index: int, width: int | None) -> bytes: ...
    def keys(self) -> str: ...
    def bundle(self, index: int, width: int | None) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class FigureCheck:
    """One figure of the report against what the log says (`recomputed` None: a database
    figure, which the log cannot confirm)."""

    key: str
    label: str
    source: FigureSource
    reported: int
    recomputed: int | None  # None: a database figure, or a ledger figure with no query

    @property
    def matches(self) -> bool:
        if self.source == "database":
            return True  # not the log's to confirm; listed apart
        return self.recomputed == self.reported


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    size: int  # the report's checkpoint: entries [0, size) were recounted
    root: bytes
    log_size: int  # the log's checkpoint today, proved to extend the report's
    key_served: bool  # the key came from the log itself, not from the verifier
    checks: tuple[FigureCheck, ...]

    @property
    def mismatches(self) -> tuple[FigureCheck, ...]:
        return tuple(c for c in self.checks if not c.matches)

    @property
    def not_recomputable(self) -> tuple[FigureCheck, ...]:
        return tuple(c for c in self.checks if c.source == "database")


# Called after each bundle with (entries recounted, entries to recount): progress for a CLI.
Progress = Callable[[int, int], None]


def verify_report(
    report: EvidenceReport,
    log: PublishedLog,
    vkeys: str | None,
    progress: Progress | None = None,
) -> VerifyOutcome:
    """Check `report` against `log` as the module docstring says; `vkeys` None trusts the key
    list the log serves (the outcome says so)."""
    keys = log.keys() if vkeys is None else vkeys
    origin = log_origin(keys)
    claimed = verify_note(report.checkpoint.note, keys, origin=origin)
    if claimed.size != report.checkpoint.size or b64encode(claimed.root) != (
        report.checkpoint.root_hash
    ):
        raise TamperDetected(
            f"the report claims checkpoint size {report.checkpoint.size} root "
            f"{report.checkpoint.root_hash}, but its signed note says size {claimed.size} root "
            f"{b64encode(claimed.root)}"
        )
    today = verify_note(log.checkpoint(), keys, origin=origin)
    prove_consistent(log, claimed, today)
    figures = tuple(report.figures())
    queries = [f.query for f in figures if f.source == "ledger" and f.query is not None]
    counts = iter(_recount(log, claimed, queries, progress))
    checks = tuple(
        FigureCheck(
            f.key,
            f.label,
            f.source,
            f.value,
            next(counts) if f.source == "ledger" and f.query is not None else None,
        )
        for f in figures
    )
    return VerifyOutcome(claimed.size, claimed.root, today.size, vkeys is None, checks)


def _recount(
    log: PublishedLog,
    head: Checkpoint,
    queries: list[LedgerQuery],
    progress: Progress | None,
) -> list[int]:
    """Each query's count over entries [0, head.size), reading every bundle once; the bundles'
    leaf hashes must fold into the signed root."""
    counts = [0] * len(queries)
    tree = CompactRange()
    done = 0
    for index in range(-(-head.size // TILE_WIDTH)):
        rest = head.size - index * TILE_WIDTH
        width = None if rest >= TILE_WIDTH else rest
        bodies = log.bundle(index, width)
        for body in bodies:
            tree.append(leaf_hash(body))
            try:
                entry = AuditEntry.from_bytes(body)
            except ValueError as exc:
                raise TamperDetected(f"entry {done} is not a ledger entry: {exc}", done) from None
            for k, query in enumerate(queries):
                if query.matches(entry):
                    counts[k] += 1
            done += 1
        if progress is not None:
            progress(done, head.size)
    if tree.root() != head.root:
        raise TamperDetected(
            f"the entries the log served do not hash to the signed root of size {head.size}"
        )
    return counts


def figure_line(check: FigureCheck) -> str:
    """How the CLI names one figure's result."""
    if check.source == "database":
        return f"{check.key} ({check.label}): {check.reported}, {NOT_RECOMPUTABLE}"
    if check.recomputed is None:
        return f"{check.key} ({check.label}): {check.reported}, but the report gives no query"
    if check.recomputed == check.reported:
        return f"{check.key} ({check.label}): {check.reported}, recomputed {check.recomputed}"
    return (
        f"{check.key} ({check.label}): the report says {check.reported}, "
        f"the log says {check.recomputed}"
    )
