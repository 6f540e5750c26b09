"""The backups benchmark runs end to end on a small tree and reports every agreed figure;
restic and borg (Debian's, installed by .ci/run) are measured on the same tree."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.conftest import require_service
from tests.integration.mail_world import load_benchmark

pytestmark = pytest.mark.promise("P15")

FIGURES = {
    "tree_mib",
    "files",
    "entrusted_mib_per_s",
    "restic_mib_per_s",
    "borg_mib_per_s",
    "restore_mib_per_s",
    "purge_archives_per_s",
}


def test_a_small_run_reports_every_figure() -> None:
    require_service(shutil.which("restic") is not None, "restic")
    require_service(shutil.which("borg") is not None, "borg")
    result: dict[str, Any] = load_benchmark("backups").run(size_mib=4, quick=True)
    assert set(result) >= FIGURES
    assert result["fsync_commits_per_s"]["sqlite"] > 0  # the same run's floors
    assert result["hash_limit_per_s"] > 0
    assert result["dict_lookup_floor_us"] > 0
    assert result["files"] > 10
    for name in FIGURES - {"files", "tree_mib"}:
        assert result[name] > 0, name
    # The timed run: mailbox, site, record; the untimed one: those again and 20 more records.
    assert result["archives"] == 26
