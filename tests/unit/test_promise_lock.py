"""The lock of promise-marked tests (issue 19): `tests/promises.lock` lists every marked test
with its promises; the plugin puts it into the manifest as `expected`, with whether the run
selected the whole suite, so that a deleted test is a red flag in the evidence report naming
it, and a partial run (one file, -k) flags nothing it left out on purpose."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from entrusted.domain.evidence import FlagKind, parse_manifest
from entrusted.services.memory_evidence import InMemoryEvidenceFacts
from tests import promise_plugin
from tests.unit.test_evidence_service import NOV, service

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.promise("P3", "P14")

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ".venv/bin/pytest --collect-only -q --promise-lock-update"
SUITE = """
import pytest

@pytest.mark.promise("P11")
def test_kept():
    pass

def test_unmarked():
    pass

@pytest.mark.promise("P5")
@pytest.mark.parametrize("n", [1, 2])
def test_cases(n):
    pass
"""
LOCK = {
    "format": promise_plugin.LOCK_FORMAT,
    "tests": [
        {"id": "test_suite.py::test_kept", "promises": ["P11"]},
        {"id": "test_suite.py::test_cases", "promises": ["P5"]},  # ran as test_cases[1], [2]
        {"id": "test_suite.py::test_deleted", "promises": ["P16"]},  # locked, then deleted
    ],
}


@pytest.mark.slow
def test_the_lock_lists_every_marked_test_collected(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """Adding, renaming or deleting a marked test without updating the lock fails here.
    A run of the whole suite has just collected it: its lock text is compared (collecting
    it again in a subprocess took half a minute); a narrower run collects it in one."""
    now = pytestconfig.stash.get(promise_plugin.COLLECTED_LOCK, None)
    if now is None or pytestconfig.rootpath != ROOT:
        now = _collect_the_suite(tmp_path)
    locked = (ROOT / promise_plugin.DEFAULT_LOCK).read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            locked.splitlines(keepends=True), now.splitlines(keepends=True), "lock", "collected"
        )
    )
    assert now == locked, (
        f"tests/promises.lock differs from the promise-marked tests collected; if the change "
        f"is meant, regenerate it with `{REGENERATE}` and commit it:\n{diff[:4000]}"
    )


def _collect_the_suite(tmp_path: Path) -> str:
    """The lock `--collect-only --promise-lock-update` writes for the whole suite."""
    collected = tmp_path / "promises.lock"
    environ = {**os.environ, promise_plugin.LOCK_ENV: str(collected)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", promise_plugin.LOCK_UPDATE],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return collected.read_text(encoding="utf-8")


def _run(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("-p", "no:cacheprovider", *args, plugins=[promise_plugin])
    data: dict[str, Any] = json.loads(
        Path(os.environ[promise_plugin.MANIFEST_ENV]).read_text(encoding="utf-8")
    )
    return data


@pytest.fixture
def locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lock = tmp_path / "promises.lock"
    lock.write_text(json.dumps(LOCK), encoding="utf-8")
    monkeypatch.setenv(promise_plugin.LOCK_ENV, str(lock))
    monkeypatch.setenv(promise_plugin.MANIFEST_ENV, str(tmp_path / "manifest.json"))
    return lock


def test_a_whole_suite_run_missing_a_locked_test_is_a_red_flag_naming_it(
    pytester: pytest.Pytester, locked: Path
) -> None:
    data = _run(pytester)
    assert data["complete"] is True
    assert data["expected"] == LOCK["tests"]
    manifest = parse_manifest(data)
    assert manifest.missing() == ("test_suite.py::test_deleted",)
    evidence, _ = service(InMemoryEvidenceFacts(), manifest)
    flags = [f for f in evidence.report(*NOV).red_flags if f.kind == FlagKind.TEST_MISSING]
    deleted = [f for f in flags if "test_deleted" in f.detail]
    assert [(f.promise, f.look_at) for f in deleted] == [("P16", "test_suite.py::test_deleted")]
    assert not [f for f in flags if "test_kept" in f.detail or "test_cases" in f.detail]


@pytest.mark.parametrize("narrowed", [["-k", "kept"], ["test_suite.py"], ["-m", "promise"]])
def test_a_partial_run_flags_nothing_it_left_out(
    pytester: pytest.Pytester, locked: Path, narrowed: list[str]
) -> None:
    data = _run(pytester, *narrowed)
    assert data["complete"] is False
    manifest = parse_manifest(data)
    assert manifest.missing() == ()
    evidence, _ = service(InMemoryEvidenceFacts(), manifest)
    assert not [f for f in evidence.report(*NOV).red_flags if "test_deleted" in f.detail]


def test_lock_update_writes_the_marked_tests_one_a_line(
    pytester: pytest.Pytester, locked: Path
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--collect-only", "-q", promise_plugin.LOCK_UPDATE,
        plugins=[promise_plugin],
    )  # fmt: skip
    assert result.ret == 0
    text = locked.read_text(encoding="utf-8")
    assert json.loads(text) == {
        "format": promise_plugin.LOCK_FORMAT,
        "tests": [  # marked only, sorted, once per parametrized test
            {"id": "test_suite.py::test_cases", "promises": ["P5"]},
            {"id": "test_suite.py::test_kept", "promises": ["P11"]},
        ],
    }
    assert '  {"id": "test_suite.py::test_kept", "promises": ["P11"]}\n' in text
    narrowed = pytester.runpytest(
        "-p", "no:cacheprovider", "--collect-only", "-k", "kept", promise_plugin.LOCK_UPDATE,
        plugins=[promise_plugin],
    )  # fmt: skip
    assert narrowed.ret == pytest.ExitCode.USAGE_ERROR  # a partial lock would lose tests
    assert locked.read_text(encoding="utf-8") == text
