"""The policy benchmark: every engine that imports agrees with the labels of the mix."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import require_module

pytestmark = pytest.mark.promise("P8", "P12")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "policy.py"
PEER_MODULES = {"cedarpy": "cedarpy", "regorus": "regorus", "pycasbin": "casbin"}


def load() -> ModuleType:
    # Loaded the way `entrusted bench` loads it: from its file, not as a package module.
    spec = importlib.util.spec_from_file_location("entrusted_bench_policy_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load()


def test_the_mix_is_reproducible_and_about_58_percent_allow(bench: ModuleType) -> None:
    mix, labels = bench.generate_requests(20_000, 20240607)
    again, _ = bench.generate_requests(20_000, 20240607)
    assert mix == again
    assert 0.56 < sum(labels) / len(labels) < 0.60


def test_every_engine_agrees_with_the_labels(bench: ModuleType) -> None:
    result: dict[str, Any] = bench.run(requests=3000, extra=lambda: {"marker": 1})
    assert result["requests"] == 3000
    assert result["gate"] == {"marker": 1}
    # The same run's floors: the decision floor, the hash limit, SQLite's fsync floor.
    assert result["dict_lookup_floor_us"] > 0
    assert result["hash_limit_per_s"] > 0
    assert set(result["fsync_commits_per_s"]) == {"sqlite"}
    assert result["load_average_1min"] >= 0
    engines = result["engines"]
    assert set(engines) == {"entrusted", "cedarpy", "regorus", "pycasbin"}
    for name, figures in engines.items():
        if name in PEER_MODULES:
            require_module(PEER_MODULES[name])  # a missing peer skips locally, fails under CI
        assert "error" not in figures, f"{name}: {figures.get('error')}"
        own = {"decide_only_p50_us"} if name == "entrusted" else set()
        common = {"p50_us", "p99_us", "decisions_per_s", "mismatches", "version"}
        assert set(figures) == common | own
        assert figures["mismatches"] == 0, name
        assert figures["p50_us"] <= figures["p99_us"]
    # The decision alone, on requests already shaped: part of the end-to-end figure.
    assert 0 < engines["entrusted"]["decide_only_p50_us"] < engines["entrusted"]["p50_us"]


def test_regorus_set_input_still_turns_bools_into_numbers(bench: ModuleType) -> None:
    """Pins the upstream bug that makes the benchmark use set_input_json: when this fails,
    regorus fixed it and the JSON detour can go."""
    require_module("regorus")
    assert bench.regorus_bool_bug_present()


def test_gate_benchmark_reports_audited_decisions() -> None:
    spec = importlib.util.spec_from_file_location(
        "entrusted_bench_gate_test", BENCH.with_name("_gate.py")
    )
    assert spec is not None
    assert spec.loader is not None
    gate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gate)
    result = gate.measure_gate(clients=8, per_client=25, rounds=2)
    assert (result["rounds"], result["decisions"]) == (2, 400)
    assert len(result["vs_ledger_rounds"]) == 2
    assert result["audited_decisions_per_s"] > 0
    assert result["p50_ms"] <= result["p99_ms"]
    assert result["ledger_batches"] >= 1
    # Beside it, in the same installation: the ledger's own group commit and the fsync floor.
    assert result["ledger_appends_per_s"] > 0
    assert result["fsync_commits_per_s"] > 0
    assert result["vs_fsync"] > 0
    assert result["vs_ledger"] > 0
