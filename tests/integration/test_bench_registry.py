"""The registry benchmark runs end to end (quick sizes) and reports the agreed figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.promise("P1")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "registry.py"


def test_quick_run_reports_every_figure() -> None:
    # Loaded the way `entrusted bench` loads it: from its file, not as a package module.
    spec = importlib.util.spec_from_file_location("entrusted_bench_registry_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result: dict[str, Any] = module.run(quick=True)
    assert {
        "lookup_by_email_p50_us",
        "lookup_by_email_p99_us",
        "import_customers_per_s",
        "customers",
    } <= set(result)
    assert result["customers"] == 5_000
    assert result["import_customers_per_s"] > 0
    assert 0 < result["lookup_by_email_p50_us"] <= result["lookup_by_email_p99_us"]
    assert result["ledger_single_append_p50_us"] > 0
    # The same run's floors.
    assert result["fsync_commits_per_s"]["sqlite"] > 0
    assert result["hash_limit_per_s"] > 0
    assert result["dict_lookup_floor_us"] > 0
