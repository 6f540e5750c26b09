"""The ledger benchmark runs end to end (quick sizes) and reports exactly the agreed figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, postgres_available, require_service

pytestmark = pytest.mark.promise("P3")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ledger.py"


def load_module() -> Any:
    # Loaded the way `entrusted bench` loads it: from its file, not as a package module.
    spec = importlib.util.spec_from_file_location("entrusted_bench_ledger_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_reports_every_figure() -> None:
    run: dict[str, Any] = load_module().run(quick=True)
    assert set(run) == {
        "ledger",
        "fsync_commits_per_s",
        "hash_limit_per_s",
        "dict_lookup_floor_us",
        "load_average_1min",
    }
    assert set(run["ledger"]) == {"sqlite"}  # no PostgreSQL URL given: SQLite only
    result = run["ledger"]["sqlite"]
    assert set(result) == {
        "backend",
        "group_commit",
        "single_client",
        "bulk_appends_per_s",
        "verify_entries_per_s",
        "verify_vs_hash_limit",
        "verify_processes",
        "hash_limit_bodies_per_s",
        "inclusion_proof",
        "consistency_proof",
        "monitor_entries_per_s",
        "witness_cosign_ms",
    }
    assert result["backend"] == "sqlite"
    assert set(result["group_commit"]) == {
        "clients", "appends_per_s", "p50_ms", "p99_ms", "vs_fsync"
    }
    assert result["group_commit"]["clients"] == 64
    assert set(result["single_client"]) == {"p50_ms"}
    assert set(result["inclusion_proof"]) == {"size", "p50_ms", "p99_ms"}
    assert result["inclusion_proof"]["size"] == 50_000
    assert set(result["consistency_proof"]) == {"p50_ms"}
    for rate in (
        "bulk_appends_per_s",
        "verify_entries_per_s",
        "hash_limit_bodies_per_s",
        "monitor_entries_per_s",
    ):
        assert result[rate] > 0, rate
    assert run["hash_limit_per_s"] > 0
    group = result["group_commit"]
    assert 0 < group["p50_ms"] <= group["p99_ms"]
    # The ratios are the same run's figures over its floors, recomputed here.
    fsync = run["fsync_commits_per_s"]["sqlite"]
    assert group["vs_fsync"] == pytest.approx(group["appends_per_s"] / fsync, abs=0.006)
    assert result["verify_vs_hash_limit"] == pytest.approx(
        result["verify_entries_per_s"] / run["hash_limit_per_s"], abs=0.006
    )
    # 50,000 entries are too few to share with a second process.
    assert result["verify_processes"] == 1
    # The verifier cannot beat bare hashing of the same entries: a sanity check on the clock.
    assert result["verify_entries_per_s"] < result["hash_limit_bodies_per_s"]
    # The same run's floors (SQLite only: this run is on SQLite).
    assert set(run["fsync_commits_per_s"]) == {"sqlite"}
    assert fsync > 0
    assert run["dict_lookup_floor_us"] > 0
    # One witness round trip on loopback costs something, and far less than a second.
    assert 0 < result["witness_cosign_ms"] < 1000


@pytest.mark.slow
@pytest.mark.postgres
def test_with_postgresql_both_databases_are_measured_side_by_side() -> None:
    require_service(postgres_available(), "PostgreSQL at " + PG_URL)
    run: dict[str, Any] = load_module().run(database_url=PG_URL, quick=True)
    assert set(run["ledger"]) == {"sqlite", "postgresql"}
    assert set(run["fsync_commits_per_s"]) == {"sqlite", "postgresql"}
    for backend, result in run["ledger"].items():
        assert result["backend"] == backend
        group = result["group_commit"]
        fsync = run["fsync_commits_per_s"][backend]
        assert group["vs_fsync"] == pytest.approx(group["appends_per_s"] / fsync, abs=0.006)
        assert result["inclusion_proof"]["size"] == 50_000
        assert result["verify_entries_per_s"] > 0
