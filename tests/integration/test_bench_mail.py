"""The mail benchmark runs end to end (quick sizes) against a real private Dovecot and reports
exactly the agreed figures; doveadm's totals equal the monitor's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.integration.mail_world import dovecot, load_benchmark

pytestmark = pytest.mark.promise("P13")

DOVECOT_FIGURES = {
    "doveadm_cold_ms",
    "doveadm_warm_ms",
    "doveadm_backend_ms",
    "doveadm_bare_ms",
    "customer_login_first_ms",
    "customer_login_ms",
    "staff_login_first_ms",
    "staff_login_ms",
}


# The same run's floors (benchmarks/_floors.py), in every benchmark's figures.
FLOORS = ("fsync_commits_per_s", "hash_limit_per_s", "dict_lookup_floor_us", "load_average_1min")


def test_quick_run_reports_every_figure() -> None:
    require_service(dovecot.dovecot_binary() is not None, "Dovecot with dovecot-auth-lua")
    result: dict[str, Any] = load_benchmark("mail").run(quick=True)
    assert {
        "messages",
        "folders",
        "monitor_ms",
        "listdir_floor_ms",
        "monitor_vs_floor",
        "doveadm_matches_monitor",
        "customer_passdb_scheme",
        "staff_vs_customer",
        *DOVECOT_FIGURES,
        *FLOORS,
    } == set(result)
    assert result["fsync_commits_per_s"]["sqlite"] > 0
    assert (result["messages"], result["folders"]) == (5_000, 20)
    assert result["listdir_floor_ms"] > 0
    assert result["monitor_ms"] > 0
    for name in DOVECOT_FIGURES:
        assert isinstance(result[name], float), name
        assert result[name] > 0, name
    assert result["doveadm_matches_monitor"] is True
    assert result["customer_passdb_scheme"] == "ARGON2ID"  # a real hash, not {PLAIN}
    assert result["doveadm_cold_ms"] > result["doveadm_warm_ms"]  # the cold run builds the index


def test_listdir_floor_counts_what_the_monitor_counts(tmp_path: Path) -> None:
    """The floor walks names only, yet finds every message (and no dot-file) of the Maildir."""
    bench = load_benchmark("mail")
    root = tmp_path / "Maildir"
    dovecot.build_maildir(root, 205, 20)
    (root / "dovecot.index.log").touch()
    (root / ".dovecot.lda-dupes").touch()  # a dot-file that is not a folder
    assert bench.listdir_floor(os.fsencode(root)) == 205
