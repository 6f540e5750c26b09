"""`entrusted bench evidence --json --entries N` runs end to end on a small ledger and reports
exactly the agreed figures, each rate beside its same-run floor (no timing asserted beyond
sanity: the figures depend on the machine)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from entrusted.entrypoints.cli.main import app

pytestmark = pytest.mark.promise("P3", "P14")

ENTRIES = 5_000


def test_quick_run_reports_every_figure() -> None:
    result = CliRunner().invoke(
        app, ["bench", "evidence", "--json", "--quick", "--entries", str(ENTRIES)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == {
        "backend",
        "entries",
        "report_s",
        "report_cpu_s",
        "ledger_scan_entries_per_s",
        "scan_floor_entries_per_s",
        "scan_floor_cpu_s",
        "fetch_floor_entries_per_s",
        "verify_entries_per_s",
        "bulk_appends_per_s",
        "figures",
        "entries_in_period",
        "fsync_commits_per_s",
        "hash_limit_per_s",
        "dict_lookup_floor_us",
        "load_average_1min",
    }
    assert figures["backend"] == "sqlite"
    # The report signs a checkpoint over the log as it stands: the filled entries, plus what
    # the installation itself ledgered when it was made.
    assert figures["entries"] >= ENTRIES
    assert figures["entries_in_period"] == ENTRIES  # every filled entry falls in the month
    assert figures["report_s"] > 0
    assert figures["report_cpu_s"] > 0
    for rate in (
        "ledger_scan_entries_per_s",
        "scan_floor_entries_per_s",
        "scan_floor_cpu_s",
        "fetch_floor_entries_per_s",
        "verify_entries_per_s",
        "bulk_appends_per_s",
    ):
        assert figures[rate] > 0, rate
    assert figures["figures"] > 17  # at least one per promise
