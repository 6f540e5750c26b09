"""The load benchmark runs briefly against a real `entrusted serve` (with its worker) on each
database and no request answers 5xx (issue 10: SQLite used to answer 500 "database is locked")."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, postgres_available, require_service

pytestmark = pytest.mark.promise("P3")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"


def load_module() -> Any:
    # Loaded the way `entrusted bench` loads it: from its file, not as a package module.
    spec = importlib.util.spec_from_file_location("entrusted_bench_load_test", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(result: dict[str, Any]) -> None:
    assert result["clients"] == 64
    # The same run's floors: SQLite's fsync floor always, the database's own beside it.
    assert result["fsync_commits_per_s"]["sqlite"] > 0
    assert result["fsync_commits_per_s"].get(result["backend"], 0) > 0
    assert result["hash_limit_per_s"] > 0
    assert result["dict_lookup_floor_us"] > 0
    assert result["errors_5xx"] == 0, result
    assert result["errors_transport"] == 0, result["transport_errors"]
    assert result["server_tracebacks"] == 0, result
    assert result["requests"] > 0
    assert result["rps"] > 0
    assert result["p99_ms"] > 0
    # Every kind of request was made; the logins and a customer's own record cannot be
    # refused here (the rules for the others are the policy's business, not this test's)
    for kind, figures in result["kinds"].items():
        assert figures["requests"] > 0, kind
        assert "401" not in figures["statuses"], (kind, result)
    for kind in ("staff_login", "customer_login", "own_record"):
        assert set(result["kinds"][kind]["statuses"]) == {"200"}, (kind, result)


@pytest.mark.slow
def test_brief_load_on_sqlite_answers_no_5xx() -> None:
    result = load_module().run(quick=True, seconds=4)
    assert result["backend"] == "sqlite"
    check(result)


@pytest.mark.slow
@pytest.mark.postgres
def test_brief_load_on_postgresql_answers_no_5xx() -> None:
    require_service(postgres_available(), "PostgreSQL at " + PG_URL)
    result = load_module().run(database_url=PG_URL, quick=True, seconds=4)
    assert result["backend"] == "postgresql"
    check(result)
