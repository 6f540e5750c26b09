"""The API benchmark (issue 13 item 4) runs briefly against a real `entrusted serve` under wrk:
both endpoints answer, nothing fails, and every gate request reached the ledger (counted from
the database, apart from wrk's own figures)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, postgres_available, require_service

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "api.py"

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:4242/healthz
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.04ms    3.10ms  40.12ms   80.00%
    Req/Sec     1.33k   120.00     1.50k    70.00%
  Latency Distribution
     50%   11.50ms
     75%   13.00ms
     90%   15.00ms
     99%  850.00us
  7980 requests in 3.00s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   2659.93
Transfer/sec:    409.00KB
"""


def load_module() -> Any:
    spec = importlib.util.spec_from_file_location("entrusted_bench_api_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrk_report_is_read_field_by_field() -> None:
    found = load_module().parse_wrk(WRK_OUTPUT)
    assert found == {
        "rps": 2659.9,
        "requests": 7980,
        "p50_ms": 11.5,
        "p99_ms": 0.85,
        "non_2xx": 5,
        "socket_errors": 3,
    }


def test_a_wrk_run_without_a_report_is_an_error_not_zero() -> None:
    with pytest.raises(RuntimeError, match="no report"):
        load_module().parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def check(result: dict[str, Any]) -> None:
    assert result["connections"] == 32
    assert result["bare_rps"] > 0
    assert result["gate_rps"] > 0
    assert result["gate_vs_bare"] == pytest.approx(result["gate_rps"] / result["bare_rps"], 0.01)
    assert result["non_2xx"] == 0, result
    assert result["socket_errors"] == 0, result
    assert result["server_tracebacks"] == 0, result
    # One decision per answered request at least (requests still in flight when wrk stopped
    # and the worker's checkpoints may add more): an unaudited answer would show here.
    assert result["ledger_entries_added"] >= result["gate_requests"] > 0, result


@pytest.mark.slow
def test_brief_api_bench_on_sqlite() -> None:
    require_service(shutil.which("wrk") is not None, "wrk (Debian package wrk)")
    result = load_module().run(quick=True, seconds=2)
    assert result["backend"] == "sqlite"
    check(result)


@pytest.mark.slow
@pytest.mark.postgres
def test_brief_api_bench_on_postgresql() -> None:
    require_service(shutil.which("wrk") is not None, "wrk (Debian package wrk)")
    require_service(postgres_available(), "PostgreSQL at " + PG_URL)
    result = load_module().run(database_url=PG_URL, quick=True, seconds=2)
    assert result["backend"] == "postgresql"
    check(result)
    # issue 13 item 3: a second instance on the same database, both loaded at once
    assert result["two_instances_gate_rps"] > 0
    assert result["two_instances_non_2xx"] == 0, result
    assert result["two_vs_one"] == pytest.approx(
        result["two_instances_gate_rps"] / result["gate_rps"], 0.01
    )
