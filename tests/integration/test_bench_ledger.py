"""The ledger benchmark runs end to end (quick sizes) and reports exactly the agreed figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.promise("P3")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ledger.py"


def test_quick_run_reports_every_figure() -> None:
    # Loaded the way `entrusted bench` loads it: from its file, not as a package module.
    spec = importlib.util.spec_from_file_location("entrusted_bench_ledger_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: dict[str, Any] = module.run(quick=True)
    assert set(result) == {
        "backend",
        "group_commit",
        "single_client",
        "bulk_appends_per_s",
        "verify_entries_per_s",
        "hash_limit_bodies_per_s",
        "inclusion_proof",
        "consistency_proof",
        "monitor_entries_per_s",
        "witness_cosign_ms",
        "fsync_commits_per_s",
        "hash_limit_per_s",
        "dict_lookup_floor_us",
        "load_average_1min",
    }
    assert result["backend"] == "sqlite"
    assert set(result["group_commit"]) == {"clients", "appends_per_s", "p50_ms", "p99_ms"}
    assert result["group_commit"]["clients"] == 64
    assert set(result["single_client"]) == {"p50_ms"}
    assert set(result["inclusion_proof"]) == {"size", "p50_ms", "p99_ms"}
    assert result["inclusion_proof"]["size"] == 50_000
    assert set(result["consistency_proof"]) == {"p50_ms"}
    for rate in (
        "bulk_appends_per_s",
        "verify_entries_per_s",
        "hash_limit_bodies_per_s",
        "hash_limit_per_s",
        "monitor_entries_per_s",
    ):
        assert result[rate] > 0, rate
    group = result["group_commit"]
    assert 0 < group["p50_ms"] <= group["p99_ms"]
    # The verifier cannot beat bare hashing of the same entries: a sanity check on the clock.
    assert result["verify_entries_per_s"] < result["hash_limit_bodies_per_s"]
    # The same run's floors (SQLite only: this run is on SQLite).
    assert set(result["fsync_commits_per_s"]) == {"sqlite"}
    assert result["fsync_commits_per_s"]["sqlite"] > 0
    assert result["dict_lookup_floor_us"] > 0
    # One witness round trip on loopback costs something, and far less than a second.
    assert 0 < result["witness_cosign_ms"] < 1000
