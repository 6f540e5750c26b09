"""The promise plugin: markers are checked at collection, a run writes the test manifest
`entrusted evidence` reads, with each test's promises and outcome (issue 19)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from entrusted.domain.evidence import parse_manifest
from entrusted.domain.policy import PROMISES
from tests import promise_plugin

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.promise("P12")

SUITE = """
import pytest

pytestmark = pytest.mark.promise("P9", "P11")

def test_passes():
    pass

@pytest.mark.promise("P13")
def test_fails():
    assert False

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("set-up fails")

def test_errors(broken):
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # The plugin module object is handed over as is: importing it again by name (-p) would
    # warn that it cannot be assertion-rewritten, which this suite turns into an error.
    return pytester.runpytest("-p", "no:cacheprovider", *args, plugins=[promise_plugin])


def _manifest(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "out" / "manifest.json"
    monkeypatch.setenv(promise_plugin.MANIFEST_ENV, str(path))
    return path


def test_a_run_writes_each_tests_promises_and_outcome(
    pytester: pytest.Pytester, manifest: Path
) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    promise: the promises a test exercises\n")
    pytester.makepyfile(test_suite=SUITE)
    result = _run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1)
    data = _manifest(manifest)
    assert data["format"] == "entrusted-test-manifest/1"
    assert set(data) == {
        *("format", "run_id", "started", "finished", "commit", "tests"),
        *("complete", "expected"),  # the locked tests (none here), tests/unit/test_promise_lock.py
    }
    assert data["started"] <= data["finished"]
    assert data["commit"] is None  # pytester's directory is not a git work tree
    tests = {t["id"]: (t["promises"], t["outcome"]) for t in data["tests"]}
    assert tests == {
        "test_suite.py::test_passes": (["P9", "P11"], "passed"),
        "test_suite.py::test_fails": (["P9", "P11", "P13"], "failed"),
        "test_suite.py::test_skipped": (["P9", "P11"], "skipped"),
        "test_suite.py::test_errors": (["P9", "P11"], "error"),
    }
    # The evidence report reads it as written (domain/evidence_manifest.py).
    summary = parse_manifest(data).summary()
    assert (summary.run_id, summary.passed, summary.failed, summary.skipped) == (
        data["run_id"],
        1,
        2,
        1,
    )


def test_unmarked_tests_are_listed_without_promises(
    pytester: pytest.Pytester, manifest: Path
) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    _run(pytester).assert_outcomes(passed=1)
    assert _manifest(manifest)["tests"] == [
        {"id": "test_plain.py::test_plain", "promises": [], "outcome": "passed"}
    ]


@pytest.mark.parametrize(
    "marker", ['pytest.mark.promise("P18")', 'pytest.mark.promise("p11")', "pytest.mark.promise"]
)
def test_a_bad_promise_id_fails_the_run_at_collection(
    pytester: pytest.Pytester, manifest: Path, marker: str
) -> None:
    pytester.makepyfile(
        test_typo=f"import pytest\n\n@{marker}\ndef test_typo():\n    pass\n",
    )
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_typo.py::test_typo*promise*"])
    assert not manifest.exists()  # nothing ran, and no manifest claims otherwise


def test_the_default_manifest_goes_under_var_of_the_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(promise_plugin.MANIFEST_ENV, raising=False)
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    _run(pytester).assert_outcomes(passed=1)
    data = _manifest(pytester.path / "var" / "test-manifest.json")
    assert [t["id"] for t in data["tests"]] == ["test_one.py::test_one"]
    assert not list((pytester.path / "var").glob(".*.tmp"))  # replaced atomically


def test_an_xdist_worker_leaves_the_manifest_to_the_controller(
    pytester: pytest.Pytester, manifest: Path
) -> None:
    # A worker's config carries `workerinput`; a conftest stands in for xdist setting it.
    pytester.makeconftest(
        "def pytest_configure(config):\n    config.workerinput = {'workerid': 'gw0'}\n"
    )
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    _run(pytester).assert_outcomes(passed=1)
    assert not manifest.exists()


def test_promises_travel_in_the_report_for_the_xdist_controller(
    pytester: pytest.Pytester, manifest: Path
) -> None:
    # Under xdist the controller never collects: all it sees are the workers' reports.
    pytester.makeconftest(
        "def pytest_runtest_logreport(report):\n"
        "    assert ('promises', 'P5') in report.user_properties\n"
    )
    pytester.makepyfile(
        test_one="import pytest\n\n@pytest.mark.promise('P5')\ndef test_one():\n    pass\n"
    )
    _run(pytester).assert_outcomes(passed=1)


def _marked_promises(root: Path) -> dict[str, set[str]]:
    """Promise id -> the test files whose `promise(...)` markers name it, read from the
    source (no collection: a module that cannot import still shows what it claims)."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "promise"
            ):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.setdefault(arg.value, set()).add(path.name)
    return found


def test_every_promise_is_exercised_by_some_test() -> None:
    found = _marked_promises(Path(__file__).resolve().parents[1])
    missing = sorted(PROMISES - set(found), key=lambda p: int(p[1:]))
    assert not missing, f"no test carries promise(...) for {missing}"
    assert set(found) <= PROMISES  # collection refuses the others; this says where they are
