"""The red flags of the evidence report: what needs looking at, before any figure.

Each flag names its promise, what is wrong and where to look. They come from the invariants
re-proved at report time, the last test run, the backup keys past their week, the ledger's
staff accesses made under no grant, the witnesses, and the grants that outlived their case;
a promise with no evidence at all is flagged too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from entrusted.domain.backups import DayKey
from entrusted.domain.evidence import (
    PROMISE_IDS,
    Figure,
    Flag,
    FlagKind,
    TestEvidence,
    TestManifest,
)
from entrusted.domain.policy_analysis import RuleSet, Violation

if TYPE_CHECKING:  # the service imports this module; only the annotations need its records
    from entrusted.services.evidence import OutlivedGrant, WitnessState

ALL = "*"  # a flag about every promise (no test run on record)
WITNESS_SILENCE = timedelta(days=1)  # a witness this long behind the log has stopped cosigning
MUST_BE_ZERO = ("P11.access_without_grant", "P3.tamper_alerts", "P4.customer_file_exported")


@dataclass(frozen=True, slots=True)
class Findings:
    violations: list[Violation]
    manifest: TestManifest | None
    manifest_problem: str | None
    overdue: list[DayKey]
    figures: dict[str, list[Figure]]
    witnesses: Sequence[WitnessState]
    head_size: int
    outlived: Sequence[OutlivedGrant]
    now: datetime


def test_evidence(manifest: TestManifest | None, promise: str) -> TestEvidence:
    """The tests of `promise` in the run: passed, failed (or errored), missing (skipped, or
    expected and not run)."""
    if manifest is None:
        return TestEvidence()
    mine = [t for t in manifest.tests if promise in t.promises]
    absent = [i for i in manifest.missing() if promise in manifest.expected_promises.get(i, ())]
    return TestEvidence(
        passed=tuple(t.id for t in mine if t.outcome == "passed"),
        failed=tuple(t.id for t in mine if t.outcome in ("failed", "error")),
        missing=tuple([t.id for t in mine if t.outcome == "skipped"] + absent),
    )


def red_flags(f: Findings, ruleset: RuleSet) -> list[Flag]:
    flags = [*_invariants(f.violations, ruleset), *_tests(f)]
    for key in f.overdue:
        flags.append(
            Flag(
                "P16",
                FlagKind.BACKUP_OVERDUE,
                f"the key of backup day {key.day} ({key.key_id}) was due for destruction at "
                f"{key.destroy_after.isoformat()} and still exists",
                "the worker's backups.purge job (`entrusted backups purge`) and its log",
            )
        )
    flags.extend(_zero_figures(f.figures))
    flags.extend(_witnesses(f))
    for g in f.outlived:
        after = "is still usable" if g.ended_at is None else f"ended at {g.ended_at.isoformat()}"
        flags.append(
            Flag(
                "P11",
                FlagKind.GRANT_OUTLIVED_CASE,
                f"grant {g.grant_id} {after}, after its case {g.case_id} was resolved at "
                f"{g.resolved_at.isoformat()}",
                f"`entrusted grants expire`; the ledger entries naming {g.grant_id}",
            )
        )
    flags.extend(_no_evidence(f, ruleset))
    return flags


def _invariants(violations: list[Violation], ruleset: RuleSet) -> list[Flag]:
    return [
        Flag(
            p,
            FlagKind.INVARIANT_FAILED,
            f"invariant {v.invariant.id} fails: {v.message}",
            f"rules {', '.join(v.rule_ids) or '(none)'} in {ruleset.source or 'the rules file'}"
            " (`entrusted policy check`)",
        )
        for v in violations
        for p in v.invariant.implements
    ]


def _tests(f: Findings) -> list[Flag]:
    if f.manifest is None:
        detail = f.manifest_problem or "no test run on record"
        return [Flag(ALL, FlagKind.NO_TEST_RUN, detail, "the setting evidence_test_manifest")]
    flags: list[Flag] = []
    run = f"run {f.manifest.run_id}"
    for p in PROMISE_IDS:
        tests = test_evidence(f.manifest, p)
        flags.extend(Flag(p, FlagKind.TEST_FAILED, f"{t} failed in {run}", t) for t in tests.failed)
        flags.extend(
            Flag(p, FlagKind.TEST_MISSING, f"{t} did not run in {run}", t) for t in tests.missing
        )
        if not (tests.passed or tests.failed or tests.missing):
            flags.append(
                Flag(p, FlagKind.TEST_MISSING, f"no test of {p} in {run}", "tests marked promise")
            )
    unattributed = [i for i in f.manifest.missing() if i not in f.manifest.expected_promises]
    flags.extend(
        Flag(ALL, FlagKind.TEST_MISSING, f"{t} was expected and did not run in {run}", t)
        for t in unattributed
    )
    return flags


def ledger_flags(figures: dict[str, list[Figure]]) -> list[Flag]:
    """The flags the log alone decides (a must-be-zero figure that is not): the ones
    `evidence verify` recomputes from the entries."""
    return _zero_figures(figures)


def _zero_figures(figures: dict[str, list[Figure]]) -> list[Flag]:
    flags = []
    for promise_figures in figures.values():
        for fig in promise_figures:
            if fig.key in MUST_BE_ZERO and fig.value:
                kind = (
                    FlagKind.ACCESS_WITHOUT_GRANT
                    if fig.key == "P11.access_without_grant"
                    else FlagKind.FIGURE_NOT_ZERO
                )
                query = fig.query.describe() if fig.query else fig.key
                flags.append(Flag(fig.promise, kind, f"{fig.label}: {fig.value}", query))
    return flags


def _witnesses(f: Findings) -> list[Flag]:
    flags = []
    for w in f.witnesses:
        if w.halted_reason is not None:
            detail = f"witness {w.name} refused to cosign: {w.halted_reason}"
        elif w.last_size < f.head_size and (
            w.last_cosigned_at is None or f.now - w.last_cosigned_at > WITNESS_SILENCE
        ):
            when = w.last_cosigned_at.isoformat() if w.last_cosigned_at else "never"
            detail = (
                f"witness {w.name} stopped cosigning at size {w.last_size} (last {when}); "
                f"the log is at {f.head_size}"
            )
        else:
            continue
        flags.append(
            Flag("P3", FlagKind.WITNESS_SILENT, detail, "`entrusted ledger monitor`; the witness")
        )
    return flags


def _no_evidence(f: Findings, ruleset: RuleSet) -> list[Flag]:
    flags = []
    for p in PROMISE_IDS:
        ruled = any(p in r.implements for r in ruleset.rules) or any(
            p in i.implements for i in ruleset.invariants
        )
        tested = bool(test_evidence(f.manifest, p).passed)
        counted = any(fig.value for fig in f.figures.get(p, []))
        if not (ruled or tested or counted):
            flags.append(
                Flag(
                    p,
                    FlagKind.NO_EVIDENCE,
                    f"no rule, invariant, passing test or ledger figure evidences {p}",
                    "rules/default.yaml `implements:`, tests marked promise, outcomes.py",
                )
            )
    return flags
