"""`entrusted policy-doc` on SQLite and PostgreSQL: a fresh `init` has the shipped text as
version 1; legal publishes version 2 from a file; support is refused by the rule (exit 7);
bad input is exit 2 and publishes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.e2e.test_cli_foundation import Cli, ok, refused

pytestmark = pytest.mark.promise("P17")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("lena", "Lena Legal", "legal"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    return cli


# Every version states every promise: the other sections, in one.
REST = f"\n## The rest [{', '.join(f'P{n}' for n in range(1, 18) if n not in (10, 11))}]\nx\n"


def test_init_ships_version_1_and_legal_publishes_version_2(cli: Cli, tmp_path: Path) -> None:
    shown = ok(cli("policy-doc", "show"))
    assert "How we look after the data you entrust to us" in shown
    assert "version 1, in force from" in shown
    assert "rules in force: sha256 " in shown
    text = tmp_path / "v2.txt"
    text.write_text(f"Our policy\n\n## Mail [P10, P11]\nClosed to staff.\n{REST}", encoding="utf-8")
    today = datetime.now(UTC).date().isoformat()
    args = ["policy-doc", "publish", str(text), "--effective", today, "--summary", "shorter"]
    line = refused(cli(*args, "--as", "sam"), 7)
    assert "only legal publishes" in line
    assert "published version 2" in ok(cli(*args, "--as", "lena"))
    assert "Closed to staff." in ok(cli("policy-doc", "show"))
    assert "entrust to us" in ok(cli("policy-doc", "show", "--version", "1"))
    listing = ok(cli("policy-doc", "versions")).splitlines()
    assert [row.split()[0] for row in listing] == ["1", "2"]


def test_bad_input_publishes_nothing(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    base = ["policy-doc", "publish", "--summary", "x", "--as", "lena"]
    assert "text" in refused(cli(*base, str(empty), "--effective", "2099-01-01"), 2)
    good = tmp_path / "good.txt"
    good.write_text(f"Policy\n\n## Mail [P10, P11]\nClosed.\n{REST}", encoding="utf-8")
    assert "past" in refused(cli(*base, str(good), "--effective", yesterday), 2)
    assert "YYYY-MM-DD" in refused(cli(*base, str(good), "--effective", "soon"), 2)
    missing = str(tmp_path / "none.txt")
    assert "cannot read" in refused(cli(*base, missing, "--effective", "2099-01-01"), 2)
    assert len(ok(cli("policy-doc", "versions")).splitlines()) == 1
