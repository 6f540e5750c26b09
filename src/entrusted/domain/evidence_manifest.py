"""The test manifest a pytest run writes, and what the evidence report keeps of it.

Tests carry a `promise("P11")` marker; the run writes which test exercised which promise and
how it came out (format `entrusted-test-manifest/1`). The evidence report names the run it read
and flags a failed, skipped or missing test of any promise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from entrusted.domain.evidence_query import iso, parse_time, str_list

MANIFEST_FORMAT = "entrusted-test-manifest/1"
PROMISE_IDS: tuple[str, ...] = tuple(f"P{n}" for n in range(1, 18))
TEST_OUTCOMES = frozenset({"passed", "failed", "skipped", "error"})


@dataclass(frozen=True, slots=True)
class TestRunSummary:
    """Which test run the report read (from its manifest) and how it went."""

    __test__ = False

    run_id: str
    started: datetime
    finished: datetime
    commit: str | None
    passed: int
    failed: int  # failed + error
    skipped: int

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started": iso(self.started),
            "finished": iso(self.finished),
            "commit": self.commit,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestRunSummary:
        commit = data.get("commit")
        return cls(
            run_id=str(data["run_id"]),
            started=parse_time(data["started"], "started"),
            finished=parse_time(data["finished"], "finished"),
            commit=None if commit is None else str(commit),
            passed=int(data["passed"]),
            failed=int(data["failed"]),
            skipped=int(data["skipped"]),
        )


@dataclass(frozen=True, slots=True)
class ManifestTest:
    __test__ = False

    id: str  # the pytest node id
    promises: tuple[str, ...]
    outcome: str  # passed | failed | skipped | error


@dataclass(frozen=True, slots=True)
class TestManifest:
    """What one pytest run wrote (format `entrusted-test-manifest/1`):

    `{"format", "run_id", "started", "finished", "commit": str|null,
      "tests": [{"id": nodeid, "promises": ["P11", ...], "outcome": "passed|failed|skipped|error"}],
      "expected": [nodeid | {"id": nodeid, "promises": [...]}, ...], "complete": bool}` —
    `expected` is optional: the tests the run should have had (tests/promises.lock, the
    marked tests); on a `complete` run (the whole suite selected; true when absent) any of
    them absent from `tests` is a missing test, a red flag (under the promises it names, if
    given), as is a skipped one and a promise no test exercises. A partial run (one file,
    -k) left the others out on purpose, so its absences are not flagged."""

    __test__ = False

    run_id: str
    started: datetime
    finished: datetime
    commit: str | None
    tests: tuple[ManifestTest, ...]
    expected: tuple[str, ...] = field(default=())
    expected_promises: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    complete: bool = True

    def missing(self) -> tuple[str, ...]:
        """The expected tests that did not run, on a complete run; none on a partial one. An
        expected id without parameters (`file::test`, as the lock has them) ran if any of
        its parametrized cases (`file::test[...]`) did."""
        if not self.complete:
            return ()
        ran = {t.id for t in self.tests} | {t.id.split("[", 1)[0] for t in self.tests}
        return tuple(sorted(set(self.expected) - ran))

    def summary(self) -> TestRunSummary:
        counts = dict.fromkeys(TEST_OUTCOMES, 0)
        for test in self.tests:
            counts[test.outcome] += 1
        return TestRunSummary(
            run_id=self.run_id,
            started=self.started,
            finished=self.finished,
            commit=self.commit,
            passed=counts["passed"],
            failed=counts["failed"] + counts["error"],
            skipped=counts["skipped"],
        )


def parse_manifest(data: object) -> TestManifest:
    """The manifest from its decoded JSON; ValueError naming what is wrong otherwise."""
    if not isinstance(data, Mapping):
        raise ValueError("a test manifest is a JSON object")  # noqa: TRY004 - callers catch ValueError for any malformed manifest
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"not an {MANIFEST_FORMAT} manifest: format {data.get('format')!r}")
    run_id, commit, raw_tests = data.get("run_id"), data.get("commit"), data.get("tests")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError("manifest run_id must be a non-empty string")
    if commit is not None and not isinstance(commit, str):
        raise ValueError("manifest commit must be a string or null")
    if not isinstance(raw_tests, Sequence) or isinstance(raw_tests, str):
        raise ValueError("manifest tests must be a list")  # noqa: TRY004 - as above
    tests: list[ManifestTest] = []
    for raw in raw_tests:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            raise ValueError("each manifest test needs a string id")  # noqa: TRY004 - as above
        promises = str_list(raw.get("promises"), f"promises of {raw['id']}")
        unknown = sorted(set(promises) - set(PROMISE_IDS))
        if unknown:
            raise ValueError(f"test {raw['id']} cites unknown promises {unknown}")
        if raw.get("outcome") not in TEST_OUTCOMES:
            raise ValueError(f"test {raw['id']} has outcome {raw.get('outcome')!r}")
        tests.append(ManifestTest(raw["id"], promises, str(raw["outcome"])))
    expected, cited = _expected(data.get("expected", []))
    complete = data.get("complete", True)
    if not isinstance(complete, bool):
        raise ValueError("manifest complete must be true or false")  # noqa: TRY004 - as above
    return TestManifest(
        run_id=run_id,
        started=parse_time(data.get("started"), "started"),
        finished=parse_time(data.get("finished"), "finished"),
        commit=commit,
        tests=tuple(tests),
        expected=expected,
        expected_promises=cited,
        complete=complete,
    )


def _expected(raw: object) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """`expected` lists test ids, or `{"id", "promises"}` objects naming what each covers."""
    if not isinstance(raw, list):
        raise ValueError("manifest expected must be a list")  # noqa: TRY004 - as above
    ids: list[str] = []
    cited: dict[str, tuple[str, ...]] = {}
    for item in raw:
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("id"), str):
            ids.append(item["id"])
            cited[item["id"]] = str_list(item.get("promises"), f"promises of {item['id']}")
        else:
            raise ValueError("each expected test is an id or an object with an id")  # noqa: TRY004 - as above
    return tuple(ids), cited
