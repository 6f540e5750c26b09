"""The evidence report's model: what `entrusted evidence` writes and `evidence verify` reads.

Why a model of its own, in the pure domain: the report is a claim anyone holding the log can
recheck. Every ledger-sourced figure carries the `LedgerQuery` that produced it, and the report
carries the checkpoint (size + root) it was computed against, so a verifier re-runs the *same*
`LedgerQuery.matches` over entries `[0, checkpoint.size)` and must find the same count. The
maker and the verifier share this one predicate; a figure cannot mean one thing when written
and another when checked.

The test manifest (`TestManifest`) is what a pytest run writes (tests carry a
`promise("P11")` marker): which test exercised which promise, and how it came out. The report
names the run it read.

```python
q = LedgerQuery(rules=frozenset({"consent.granted"}), effects=frozenset({"allow"}),
                since=datetime(2026, 11, 1, tzinfo=UTC), until=datetime(2026, 12, 1, tzinfo=UTC))
q.matches(entry)         # True for an allowed consent.granted entry of November
q.describe()             # "rule in {consent.granted} and decision = allow and ..."
EvidenceReport.from_json(report.to_json()) == report
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from entrusted.domain.evidence_manifest import (
    MANIFEST_FORMAT,
    PROMISE_IDS,
    TEST_OUTCOMES,
    ManifestTest,
    TestManifest,
    TestRunSummary,
    parse_manifest,
)
from entrusted.domain.evidence_query import LedgerQuery, iso, parse_time, str_list

__all__ = [
    "MANIFEST_FORMAT",
    "PROMISE_IDS",
    "REPORT_FORMAT",
    "TEST_OUTCOMES",
    "BackupAge",
    "CheckpointRef",
    "DailyCount",
    "EvidenceReport",
    "Figure",
    "FigureSource",
    "Flag",
    "FlagKind",
    "LedgerQuery",
    "ManifestTest",
    "PromiseEvidence",
    "TestEvidence",
    "TestManifest",
    "TestRunSummary",
    "parse_manifest",
]

REPORT_FORMAT = "entrusted-evidence/1"

FigureSource = Literal["ledger", "database"]


class FlagKind:
    """The kinds of red flag (plain strings in the JSON, so a newer report stays readable)."""

    INVARIANT_FAILED = "invariant-failed"
    TEST_FAILED = "test-failed"
    TEST_MISSING = "test-missing"
    NO_TEST_RUN = "no-test-run"
    BACKUP_OVERDUE = "backup-overdue"
    ACCESS_WITHOUT_GRANT = "access-without-grant"
    WITNESS_SILENT = "witness-silent"
    GRANT_OUTLIVED_CASE = "grant-outlived-case"
    NO_EVIDENCE = "no-evidence"
    FIGURE_NOT_ZERO = "figure-not-zero"  # a figure that must be 0 is not (tamper alerts, say)


@dataclass(frozen=True, slots=True)
class Figure:
    """One number in the report. A `ledger` figure is `count(query)` over the checkpoint's
    entries and can be recomputed by anyone; a `database` figure (backups overdue, say) is
    read from the provider's tables at report time and has no query."""

    key: str  # "P11.grants_opened": promise id, a dot, a stable name
    label: str
    value: int
    source: FigureSource
    query: LedgerQuery | None = None
    note: str = ""

    @property
    def promise(self) -> str:
        return self.key.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "source": self.source,
            "query": None if self.query is None else self.query.to_json(),
            "query_text": None if self.query is None else self.query.describe(),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figure:
        source = data["source"]
        if source not in ("ledger", "database"):
            raise ValueError(f"unknown figure source {source!r}")
        value = data["value"]
        if type(value) is not int:
            raise ValueError(f"figure {data['key']!r} has no integer value")
        query = data.get("query")
        return cls(
            key=str(data["key"]),
            label=str(data["label"]),
            value=value,
            source=source,
            query=None if query is None else LedgerQuery.from_json(query),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True, slots=True)
class Flag:
    """A red flag: shown first, in red, with what to look at."""

    promise: str
    kind: str  # a FlagKind value
    detail: str
    look_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "promise": self.promise,
            "kind": self.kind,
            "detail": self.detail,
            "look_at": self.look_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flag:
        return cls(
            str(data["promise"]), str(data["kind"]), str(data["detail"]), str(data["look_at"])
        )


@dataclass(frozen=True, slots=True)
class TestEvidence:
    """The tests of one promise in the run the report read."""

    __test__ = False  # not a pytest class, whatever its name

    passed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # failed or errored
    missing: tuple[str, ...] = ()  # expected by the run but not run (deleted, skipped)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": list(self.passed),
            "failed": list(self.failed),
            "missing": list(self.missing),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestEvidence:
        return cls(
            str_list(data["passed"], "passed"),
            str_list(data["failed"], "failed"),
            str_list(data["missing"], "missing"),
        )


@dataclass(frozen=True, slots=True)
class PromiseEvidence:
    id: str  # "P11"
    text: str  # the promise as the shipped policy document states it
    rules: tuple[str, ...]  # rule ids whose `implements:` cites it
    invariants: tuple[tuple[str, bool], ...]  # (invariant id, holds) re-checked at report time
    tests: TestEvidence
    figures: tuple[Figure, ...]
    red: bool  # a red flag names it, or there is no evidence for it at all

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "rules": list(self.rules),
            "invariants": [{"id": name, "ok": ok} for name, ok in self.invariants],
            "tests": self.tests.to_json(),
            "figures": [f.to_json() for f in self.figures],
            "red": self.red,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromiseEvidence:
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            rules=str_list(data["rules"], "rules"),
            invariants=tuple((str(i["id"]), bool(i["ok"])) for i in data["invariants"]),
            tests=TestEvidence.from_json(data["tests"]),
            figures=tuple(Figure.from_json(f) for f in data["figures"]),
            red=bool(data["red"]),
        )


@dataclass(frozen=True, slots=True)
class CheckpointRef:
    """The signed checkpoint every ledger figure was computed against (entries [0, size))."""

    size: int
    root_hash: str  # base64, as in the checkpoint body
    note: str  # the signed note text, cosignatures included when the log has them

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root_hash": self.root_hash, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckpointRef:
        size = data["size"]
        if type(size) is not int or size < 0:
            raise ValueError("checkpoint size must be a non-negative integer")
        return cls(size, str(data["root_hash"]), str(data["note"]))


@dataclass(frozen=True, slots=True)
class DailyCount:
    """Chart data: accesses to customer data on one day, by resource kind and decision."""

    day: str  # YYYY-MM-DD (UTC)
    kind: str
    decision: str  # "allow" | "deny"
    count: int


@dataclass(frozen=True, slots=True)
class BackupAge:
    """Chart data: a backup's age in days at report time (or when destroyed)."""

    backup_id: str
    age_days: float
    destroyed: bool


@dataclass(frozen=True, slots=True)
class EvidenceReport:
    period_from: datetime  # inclusive
    period_to: datetime  # exclusive
    generated: datetime
    checkpoint: CheckpointRef
    test_run: TestRunSummary | None
    red_flags: tuple[Flag, ...]
    promises: tuple[PromiseEvidence, ...]
    daily_access: tuple[DailyCount, ...] = ()
    backup_ages: tuple[BackupAge, ...] = ()
    retention_days: int = 7
    format: str = REPORT_FORMAT
    test_source: str = ""  # where the test manifest was read: a file anyone could write

    def figures(self) -> Iterable[Figure]:
        for promise in self.promises:
            yield from promise.figures

    def test_label(self) -> str:
        """The one line every format prints about the tests: the manifest is a file on disk
        that nothing signs, so the report says where it came from and that it is unverified."""
        where = self.test_source or "(no manifest path given)"
        if self.test_run is None:
            return f"test results: none read from {where}"
        return f"test results: from {where}, run {self.test_run.run_id}, not authenticated"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "period": {"from": iso(self.period_from), "to": iso(self.period_to)},
            "generated": iso(self.generated),
            "checkpoint": self.checkpoint.to_json(),
            "test_run": None if self.test_run is None else self.test_run.to_json(),
            "test_source": self.test_source,
            "test_results": self.test_label(),  # derived; read back from test_source
            "red_flags": [f.to_json() for f in self.red_flags],
            "promises": [p.to_json() for p in self.promises],
            "charts": {
                "daily_access": [[d.day, d.kind, d.decision, d.count] for d in self.daily_access],
                "backup_ages": [[b.backup_id, b.age_days, b.destroyed] for b in self.backup_ages],
                "retention_days": self.retention_days,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvidenceReport:
        """The inverse of `to_json`; ValueError for anything that is not such a report."""
        try:
            if data.get("format") != REPORT_FORMAT:
                raise ValueError(f"not an {REPORT_FORMAT} report: format {data.get('format')!r}")
            charts = data.get("charts") or {}
            run = data.get("test_run")
            return cls(
                period_from=parse_time(data["period"]["from"], "period.from"),
                period_to=parse_time(data["period"]["to"], "period.to"),
                generated=parse_time(data["generated"], "generated"),
                checkpoint=CheckpointRef.from_json(data["checkpoint"]),
                test_run=None if run is None else TestRunSummary.from_json(run),
                red_flags=tuple(Flag.from_json(f) for f in data["red_flags"]),
                promises=tuple(PromiseEvidence.from_json(p) for p in data["promises"]),
                daily_access=tuple(
                    DailyCount(str(d), str(k), str(e), int(n))
                    for d, k, e, n in charts.get("daily_access", [])
                ),
                backup_ages=tuple(
                    BackupAge(str(b), float(a), bool(x))
                    for b, a, x in charts.get("backup_ages", [])
                ),
                retention_days=int(charts.get("retention_days", 7)),
                test_source=str(data.get("test_source", "")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an evidence report: {exc!r}") from None
