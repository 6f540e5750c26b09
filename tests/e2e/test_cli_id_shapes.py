"""The CLI checks ids for their shape before a command runs: an e-mail address where a
customer, contract, case, service or identification id belongs is a usage error (exit 2)
that names the argument, does not repeat the text, and writes nothing to the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from faker import Faker
from typer.testing import CliRunner

from entrusted.crypto.secrets import new_id
from tests.e2e.test_cli_foundation import Cli, ok

pytestmark = pytest.mark.promise("P2", "P3")

MAIL = Faker().email()
CASE, CONTRACT = new_id("case"), new_id("ctr")
COMMANDS = [
    ("customers", "show", MAIL, "--ticket", "HD-1", "--as", "sam"),
    ("customers", "show", new_id("cus"), "--case", MAIL, "--as", "sam"),
    ("customers", "identify", MAIL, "--as", "sam"),
    ("customers", "identify", new_id("cus"), "--contract", MAIL, "--as", "sam"),
    ("customers", "verify", MAIL, "123456", "--as", "sam"),
    ("contracts", "open", MAIL),
    ("contracts", "show", MAIL, "--as", "sam"),
    ("contracts", "transfer", CONTRACT, "--to", MAIL, "--as", "sam"),
    ("cases", "open", MAIL, "--subject", "Mail", "--as", "sam"),
    ("cases", "list", "--customer", MAIL, "--as", "sam"),
    ("cases", "show", MAIL, "--as", "sam"),
    ("cases", "request", CASE, "--service", MAIL, "--why", "x", "--as", "sam"),
]


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    return cli


def ledger_size(cli: Cli) -> int:
    with cli.container() as c:
        return c.ledger_store.stored_size()


def test_text_that_is_no_id_is_a_usage_error(cli: Cli) -> None:
    cli(*COMMANDS[0])  # the harness mints sam's token (ledgered) on first use of `--as sam`
    before = ledger_size(cli)
    for args in COMMANDS:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "is not a" in result.output, result.output
        assert " id (like " in result.output, result.output
        assert MAIL not in result.stderr, result.stderr
    assert ledger_size(cli) == before
