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
4. the figures are not taken from the report: the expected ones are rebuilt from the report's
   period with the code that makes them (`figure_specs`, with the rules file the verifier
   loads: the shipped one unless told), and the report must carry exactly those keys, labels
   and queries; "database" is accepted only for the fixed database figures
   (`DATABASE_FIGURES`), so flipping a figure's source, or editing its query with its value,
   fails naming it;
5. each expected query is recounted entry by entry with `LedgerQuery.matches` and must equal
   the report's value; the red flags the log alone decides (a must-be-zero figure that is not)
   and the daily-access chart are recomputed too, and must be in the report as recomputed.

What the log cannot confirm is said, never implied: the database figures, the test results
(an unsigned manifest), the other red flags (invariants, tests, backups, witnesses, grants),
the backup-age chart and the promise texts (`UNVERIFIED`).

A failed step 1-3 raises `TamperDetected`; figures that differ, and other differences, are
returned, and the entrypoint fails naming each of them.

>>> outcome = verify_report(report, reader, vkeys=None)  # doctest: +SKIP
>>> [c.key for c in outcome.mismatches]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from entrusted.crypto.signing import log_origin, verify_note
from entrusted.domain.audit import AuditEntry
from entrusted.domain.checkpoint import Checkpoint, b64encode
from entrusted.domain.evidence import (
    PROMISE_IDS,
    EvidenceReport,
    Figure,
    FigureSource,
    FlagKind,
    LedgerQuery,
)
from entrusted.domain.ledger import TILE_WIDTH, CompactRange, leaf_hash
from entrusted.domain.policy_analysis import RuleSet
from entrusted.errors import TamperDetected
from entrusted.services.evidence import DATABASE_FIGURES
from entrusted.services.evidence_figures import FigureSpec, Tally, daily_access, figure_specs, tally
from entrusted.services.evidence_flags import ledger_flags
from entrusted.services.ledger_monitor import prove_consistent

NOT_RECOMPUTABLE = "not recomputable from the log"
# Red flags the log decides: the verifier recomputes these; every other kind is not verified.
LEDGER_FLAG_KINDS = frozenset({FlagKind.ACCESS_WITHOUT_GRANT, FlagKind.FIGURE_NOT_ZERO})
UNVERIFIED = (
    "database figures ({keys}): read from the provider's tables, not the log",
    "{tests}: the test manifest is a file nothing signs",
    "red flags other than must-be-zero figures (invariants, tests, backups, witnesses, "
    "grants outliving their case): read from the rules, the manifest and the database",
    "the backup-age chart, the promise texts, their rules and invariants, figure notes",
)


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
    recomputed: int | None  # None: a database figure, or one the report should not have
    problem: str | None = None  # the figure is not the one the report's code makes

    @property
    def matches(self) -> bool:
        if self.problem is not None:
            return False
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
    problems: tuple[str, ...] = ()  # missing figures, red flags or chart rows that differ
    unverified: tuple[str, ...] = ()  # what the log cannot confirm, said plainly

    @property
    def mismatches(self) -> tuple[FigureCheck, ...]:
        return tuple(c for c in self.checks if not c.matches)

    @property
    def not_recomputable(self) -> tuple[FigureCheck, ...]:
        return tuple(c for c in self.checks if c.source == "database" and c.problem is None)

    @property
    def failed(self) -> bool:
        return bool(self.mismatches or self.problems)


# Called after each bundle with (entries recounted, entries to recount): progress for a CLI.
Progress = Callable[[int, int], None]


def verify_report(
    report: EvidenceReport,
    log: PublishedLog,
    vkeys: str | None,
    ruleset: RuleSet,
    progress: Progress | None = None,
) -> VerifyOutcome:
    """Check `report` against `log` as the module docstring says; `vkeys` None trusts the key
    list the log serves (the outcome says so); `ruleset` is the rules file the promise-citing
    figures are rebuilt with (the deployed one: the report's own cannot be trusted)."""
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
    specs = figure_specs(ruleset, report.period_from, report.period_to)
    counts, found = _recount(log, claimed, [s.query for s in specs], progress)
    recounted = dict(zip((s.key for s in specs), counts, strict=True))
    checks = tuple(_check(f, {s.key: s for s in specs}, recounted) for f in report.figures())
    problems = [
        *_missing(report, specs),
        *_flags(report, specs, recounted),
        *_chart(report, found),
    ]
    return VerifyOutcome(
        claimed.size,
        claimed.root,
        today.size,
        vkeys is None,
        checks,
        tuple(problems),
        _unverified(report),
    )


def _check(figure: Figure, expected: dict[str, FigureSpec], counts: dict[str, int]) -> FigureCheck:
    """One figure of the report against the one the report's code makes for its period."""

    def problem(why: str, recomputed: int | None = None) -> FigureCheck:
        return FigureCheck(figure.key, figure.label, figure.source, figure.value, recomputed, why)

    if figure.source == "database":
        if figure.key in DATABASE_FIGURES:
            return FigureCheck(figure.key, figure.label, "database", figure.value, None)
        if figure.key in expected:
            return problem(
                "the report gives it as a database figure, but it is counted from the log"
            )
        return problem("not a figure the report makes")
    spec = expected.get(figure.key)
    if spec is None:
        return problem("not a figure the report makes")
    recomputed = counts[spec.key]
    if figure.query != spec.query:
        return problem(
            f"its query is not the report's ({spec.query.describe()}), which counts {recomputed}",
            recomputed,
        )
    if figure.label != spec.label:
        return problem(f"its label is not the report's ({spec.label!r})", recomputed)
    return FigureCheck(figure.key, figure.label, "ledger", figure.value, recomputed)


def _missing(report: EvidenceReport, specs: list[FigureSpec]) -> Iterator[str]:
    keys = [f.key for f in report.figures()]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        yield f"figure {key} appears more than once"
    for spec in specs:
        if spec.key not in keys:
            yield f"figure {spec.key} ({spec.label}) is missing from the report"
    for key in sorted(DATABASE_FIGURES - set(keys)):
        yield f"figure {key} is missing from the report"
    for promise in report.promises:
        for figure in promise.figures:
            if figure.promise != promise.id:
                yield f"figure {figure.key} is listed under {promise.id}"


def _flags(
    report: EvidenceReport, specs: list[FigureSpec], counts: dict[str, int]
) -> Iterator[str]:
    """The must-be-zero flags, recomputed from the recounted figures: each must be in the
    report (and its promise red), and the report may carry no other flag of those kinds."""
    figures: dict[str, list[Figure]] = {p: [] for p in PROMISE_IDS}
    for spec in specs:
        figure = Figure(spec.key, spec.label, counts[spec.key], "ledger", spec.query, spec.note)
        figures.setdefault(figure.promise, []).append(figure)
    expected = ledger_flags(figures)
    red = {p.id for p in report.promises if p.red}
    for flag in expected:
        if flag not in report.red_flags:
            yield f"red flag missing from the report: {flag.promise} {flag.kind}: {flag.detail}"
        elif flag.promise not in red:
            yield f"{flag.promise} has a red flag ({flag.detail}) but is not marked red"
    for flag in report.red_flags:
        if flag.kind in LEDGER_FLAG_KINDS and flag not in expected:
            yield f"red flag the log does not bear out: {flag.promise} {flag.kind}: {flag.detail}"


def _chart(report: EvidenceReport, found: Tally) -> Iterator[str]:
    expected = tuple(daily_access(found, report.period_from, report.period_to))
    if report.daily_access != expected:
        have, want = set(report.daily_access), set(expected)
        rows = sorted(
            [f"the report has {r.day} {r.kind} {r.decision} {r.count}" for r in have - want]
            + [f"the log gives {r.day} {r.kind} {r.decision} {r.count}" for r in want - have]
        )
        yield "the daily-access chart differs from the log: " + "; ".join(rows[:10])


def _unverified(report: EvidenceReport) -> tuple[str, ...]:
    database, tests, flags, rest = UNVERIFIED
    return (
        database.format(keys=", ".join(sorted(DATABASE_FIGURES))),
        tests.format(tests=report.test_label()),
        flags,
        rest,
    )


def _recount(
    log: PublishedLog,
    head: Checkpoint,
    queries: list[LedgerQuery],
    progress: Progress | None,
) -> tuple[list[int], Tally]:
    """Each query's count over entries [0, head.size), reading every bundle once, and the
    tally the chart is drawn from; the bundles' leaf hashes must fold into the signed root."""
    counts = [0] * len(queries)
    tree = CompactRange()
    done = 0

    def bundles() -> Iterator[list[bytes]]:
        nonlocal done
        for index in range(-(-head.size // TILE_WIDTH)):
            rest = head.size - index * TILE_WIDTH
            width = None if rest >= TILE_WIDTH else rest
            bodies = log.bundle(index, width)
            for body in bodies:
                tree.append(leaf_hash(body))
                try:
                    entry = AuditEntry.from_bytes(body)
                except ValueError as exc:
                    raise TamperDetected(
                        f"entry {done} is not a ledger entry: {exc}", done
                    ) from None
                for k, query in enumerate(queries):
                    if query.matches(entry):
                        counts[k] += 1
                done += 1
            if progress is not None:
                progress(done, head.size)
            yield bodies

    found = tally(bundles(), frozenset())
    if tree.root() != head.root:
        raise TamperDetected(
            f"the entries the log served do not hash to the signed root of size {head.size}"
        )
    return counts, found


def figure_line(check: FigureCheck) -> str:
    """How the CLI names one figure's result."""
    if check.problem is not None:
        return f"{check.key} ({check.label}): {check.reported}, but {check.problem}"
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
