"""Tests say which promise they exercise; a run writes which of them passed (issue 19).

A test module carries `pytestmark = pytest.mark.promise("P9", "P11")` (or a test its own
`@pytest.mark.promise("P11")`); at the end of the run this plugin writes a *test manifest*,
the evidence `entrusted evidence` reads to say which promises the last run exercised and
whether those tests passed:

    {"format": "entrusted-test-manifest/1", "run_id": "…", "started": iso, "finished": iso,
     "commit": "…" | null,
     "tests": [{"id": nodeid, "promises": ["P11", …], "outcome": "passed"}, …]}

Every test that ran is listed, with the promises its markers name (possibly none), so a report
can tell a promise whose tests failed from one whose tests were not run at all. The manifest
goes to `$ENTRUSTED_TEST_MANIFEST`, or by default `var/test-manifest.json` under the rootdir
(git-ignored); it is replaced atomically, so a reader never sees half of one. Each run replaces
the last: a partial run (one file) yields a manifest of that file's tests, and the report says
which run it read.

A promise id that is not P1..P17 stops the run at collection: a typo would otherwise leave a
promise looking untested while its tests pass under another name.

Under pytest-xdist the workers collect and run the tests; the promises travel to the
controller in each report's `user_properties`, and only the controller writes the manifest.

A deleted test must show up too, so the marked tests are locked: `tests/promises.lock` (or
`$ENTRUSTED_PROMISE_LOCK`) lists every promise-marked test (its id without parameters, which
can hold generated data) with its promises, and the manifest carries that list as
`expected`, with `complete`: whether the run selected the whole
suite (no -k, -m, --deselect, --lf/--sw, and no argument narrower than the tests directory).
The report flags a locked test that did not run only when the run was complete; a partial run
cannot say what it left out on purpose. `tests/unit/test_promise_lock.py` keeps the lock equal
to the marked tests collected (in a whole-suite run, those this run collected: the plugin
keeps their lock text in `config.stash[COLLECTED_LOCK]`); regenerate it with

    .venv/bin/pytest --collect-only -q --promise-lock-update
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from entrusted.domain.policy import PROMISES

MANIFEST_FORMAT = "entrusted-test-manifest/1"
MANIFEST_ENV = "ENTRUSTED_TEST_MANIFEST"
DEFAULT_MANIFEST = Path("var") / "test-manifest.json"
LOCK_FORMAT = "entrusted-promise-lock/1"
LOCK_ENV = "ENTRUSTED_PROMISE_LOCK"
DEFAULT_LOCK = Path("tests") / "promises.lock"
LOCK_UPDATE = "--promise-lock-update"
PROPERTY = "promises"  # the user_properties key the promises travel under (xdist)
# The lock text of this run's items, when the run collected the whole suite.
COLLECTED_LOCK = pytest.StashKey[str]()


def promises_of(item: pytest.Item) -> tuple[str, ...]:
    """The promise ids an item's `promise` markers name (module, class and function), sorted
    by number; `pytest.UsageError` naming the test for anything that is not P1..P17."""
    found: set[str] = set()
    for marker in item.iter_markers("promise"):
        if not marker.args or marker.kwargs:
            raise pytest.UsageError(
                f"{item.nodeid}: promise marker needs promise ids, e.g. promise('P11')"
            )
        for arg in marker.args:
            if not isinstance(arg, str) or arg not in PROMISES:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown promise id {arg!r} (P1..P17, upper case)"
                )
            found.add(arg)
    return tuple(sorted(found, key=lambda p: int(p[1:])))


def _commit(root: Path) -> str | None:
    """The checked-out commit, if the rootdir is a git work tree and git is installed."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and sha else None


def manifest_path(config: pytest.Config) -> Path:
    configured = os.environ.get(MANIFEST_ENV)
    return Path(configured) if configured else config.rootpath / DEFAULT_MANIFEST


def lock_path(config: pytest.Config) -> Path:
    configured = os.environ.get(LOCK_ENV)
    return Path(configured) if configured else config.rootpath / DEFAULT_LOCK


def read_lock(path: Path) -> list[dict[str, Any]]:
    """The locked tests, `[{"id", "promises"}]`; none when there is no lock file."""
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != LOCK_FORMAT:
        raise pytest.UsageError(f"{path} is not an {LOCK_FORMAT} file")
    tests: list[dict[str, Any]] = data["tests"]
    return tests


def lock_id(nodeid: str) -> str:
    """A test's id in the lock: without its parameters, which can carry generated data
    (Faker addresses, random ids) and so differ from one collection to the next."""
    return nodeid.split("[", 1)[0]


def lock_text(tests: Mapping[str, Collection[str]]) -> str:
    """The lock file: one test a line, sorted, so a diff shows exactly what changed."""
    lines = [
        json.dumps({"id": nodeid, "promises": sorted(promises, key=lambda p: int(p[1:]))})
        for nodeid, promises in sorted(tests.items())
        if promises
    ]
    body = ",\n  ".join(lines)
    return f'{{"format": "{LOCK_FORMAT}",\n "tests": [\n  {body}\n ]}}\n'


def _selects_everything(config: pytest.Config, deselected: bool) -> bool:
    """Whether the run selected the whole suite: nothing filtered out, and every argument
    the tests directory (the lock's) or a directory above it."""
    opt = config.option
    if deselected or getattr(opt, "keyword", "") or getattr(opt, "markexpr", ""):
        return False
    if getattr(opt, "deselect", None) or getattr(opt, "lf", False) or getattr(opt, "ff", False):
        return False
    if getattr(opt, "stepwise", False) or getattr(opt, "stepwise_skip", False):
        return False
    tests_dir = (config.rootpath / DEFAULT_LOCK).parent.resolve()
    for arg in config.args:
        if "::" in arg:
            return False
        path = (config.invocation_params.dir / arg).resolve()
        if path != tests_dir and path not in tests_dir.parents:
            return False
    return True


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class PromiseManifest:
    """The plugin object: validates markers at collection, folds reports into one outcome
    per test, writes the manifest when the session ends (controller only)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = datetime.now(UTC)
        self.tests: dict[str, dict[str, Any]] = {}
        self.deselected = False

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            item.user_properties.append((PROPERTY, ",".join(promises_of(item))))
        whole = _selects_everything(self.config, self.deselected)
        if self.config.getoption("promise_lock_update") and not whole:
            raise pytest.UsageError(f"{LOCK_UPDATE} locks the whole suite: no -k, -m or paths")
        if whole:
            locked: dict[str, set[str]] = {}
            for item in items:
                locked.setdefault(lock_id(item.nodeid), set()).update(promises_of(item))
            # What `--collect-only --promise-lock-update` would write: test_promise_lock.py
            # compares it with the lock instead of collecting the suite a second time.
            self.config.stash[COLLECTED_LOCK] = lock_text(locked)
            if self.config.getoption("promise_lock_update"):
                _write_atomically(lock_path(self.config), self.config.stash[COLLECTED_LOCK])

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected = self.deselected or bool(items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        promises = next((v for k, v in report.user_properties if k == PROPERTY), "")
        test = self.tests.setdefault(
            report.nodeid,
            {"id": report.nodeid, "promises": [], "outcome": "skipped"},
        )
        if promises:
            test["promises"] = str(promises).split(",")
        if report.when == "call":
            test["outcome"] = report.outcome  # passed | failed | skipped (xfail included)
        elif report.failed:
            test["outcome"] = "error"  # set-up or tear-down failed
        elif report.skipped:
            test["outcome"] = "skipped"  # skipped in set-up (a skip mark, a missing service)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller has every report and writes the file
        if not self.tests:
            return  # nothing ran (collection failed, --collect-only): keep the last manifest
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": uuid.uuid4().hex,
            "started": self.started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "commit": _commit(self.config.rootpath),
            "tests": sorted(self.tests.values(), key=lambda t: t["id"]),
            "complete": _selects_everything(self.config, self.deselected),
            "expected": read_lock(lock_path(self.config)),
        }
        _write_atomically(manifest_path(self.config), json.dumps(manifest, indent=1) + "\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        LOCK_UPDATE,
        action="store_true",
        dest="promise_lock_update",
        help="write the promise-marked tests collected to tests/promises.lock (run it with "
        "--collect-only -q over the whole suite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(PromiseManifest(config), "entrusted-promise-manifest")
