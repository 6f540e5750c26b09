"""`entrusted evidence` on SQLite and PostgreSQL (issue 19): the operator writes the report in
each format to a file; `--as` legal is allowed and support refused by the rule (exit 7); bad
dates, a reversed period and an unknown format are exit 2 with no file written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrusted.domain.audit import AuditEntry
from tests.e2e.test_cli_foundation import Cli, ok, refused

pytestmark = pytest.mark.promise("P3", "P14")

TODAY = datetime.now(UTC).date()
PERIOD = [
    "--from",
    (TODAY - timedelta(days=7)).isoformat(),
    "--to",
    (TODAY + timedelta(days=1)).isoformat(),
]


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("lena", "Lena Legal", "legal"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    return cli


def test_the_operator_writes_the_report_in_each_format(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert "red flags" in ok(cli("evidence", *PERIOD, "--format", "json", "--out", str(out)))
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["format"] == "entrusted-evidence/1"
    assert report["checkpoint"]["size"] > 0
    # no test run on record in a fresh installation: a red flag, first
    assert report["red_flags"][0]["kind"] == "no-test-run"
    page = tmp_path / "report.html"
    ok(cli("evidence", *PERIOD, "--format", "html", "--out", str(page)))
    assert page.read_text(encoding="utf-8").count("<svg") == 2
    assert "## Red flags" in ok(cli("evidence", *PERIOD))
    with cli.container() as c:  # each report made at the console is on record
        store = c.ledger_store
        last = AuditEntry.from_bytes(store.entries(store.stored_size() - 1, store.stored_size())[0])
    assert (last.rule, last.actor_id[:4], last.resource_kind) == (
        "evidence.report-made",
        "cli:",
        "evidence_report",
    )


def test_as_legal_is_allowed_and_support_refused(cli: Cli) -> None:
    assert "# Evidence" in ok(cli("evidence", *PERIOD, "--as", "lena"))
    assert "evidence report is read by legal" in refused(cli("evidence", *PERIOD, "--as", "sam"), 7)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "2026-02-30", "--to", "2026-03-01"], "YYYY-MM-DD"),
        (["--from", "2026-03-01", "--to", "2026-02-01"], "must end after it starts"),
        (["--to", "2026-03-01"], "a date is required"),
        ([*PERIOD, "--format", "pdf"], "html, md, json"),
    ],
)
def test_bad_input_writes_nothing(cli: Cli, tmp_path: Path, args: list[str], says: str) -> None:
    out = tmp_path / "report.out"
    assert says in refused(cli("evidence", *args, "--out", str(out)), 2)
    assert not out.exists()
