"""`entrusted customers | contracts | keys ...` through Typer, on SQLite and PostgreSQL: the
import is all-or-nothing with errors naming row and field, support finds a caller while a
sysadmin is refused, the bulk export is refused (exit 7), and `keys rotate` moves every data
key to a new master key, interrupted or not."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.e2e.test_cli_foundation import Cli, ok, refused
from tests.unit.registry_world import People

pytestmark = pytest.mark.promise("P1", "P2", "P4")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    ok(cli.add_staff("sid", "Sid Sysadmin", "sysadmin"))
    return cli


def write_csv(path: Path, count: int, seed: int = 21) -> list[dict[str, str]]:
    people = People(seed=seed)
    rows = []
    for _ in range(count):
        f = people.form()
        rows.append(
            {
                "last_name": f.last_name,
                "first_name": f.first_name,
                "email": f.email,
                "phone": str(f.phone),
                "mobile": str(f.mobile),
            }
        )
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_import_find_show_and_refusals(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    rows = write_csv(path, 25)
    out = ok(cli("customers", "import", str(path)))
    assert "imported 25 customers" in out
    assert cli.rows("customer") == 25
    email = rows[3]["email"].upper()
    out = ok(cli("customers", "find", "--email", email, "--ticket", "HD-1", "--as", "sam"))
    assert rows[3]["last_name"] not in out  # masked until the caller is identified
    assert "not identified yet" in out
    customer_id = out.split()[0]
    line = refused(cli("customers", "show", customer_id, "--as", "sam"), 7)
    assert "needs an open case or a helpdesk ticket" in line
    show = ("customers", "show", customer_id, "--ticket", "HD-1", "--as", "sam")
    assert ok(cli(*show)).startswith(customer_id)
    # With a reason given, the rules still refuse a sysadmin (P8: support identifies callers).
    line = refused(cli("customers", "show", customer_id, "--ticket", "HD-1", "--as", "sid"), 7)
    assert "no rule permits sysadmin to identify personal_details" in line
    line = refused(cli("customers", "export", "--as", "sam"), 7)
    assert "never sold, distributed or exported in bulk" in line
    assert "no customer has" in ok(
        cli("customers", "find", "--phone", "+41 44 000 99 98", "--ticket", "HD-1", "--as", "sam")
    )
    # A repeated import collides on the first row: nothing more is written.
    line = refused(cli("customers", "import", str(path)), 4)
    assert "row 2" in line
    assert cli.rows("customer") == 25


@pytest.mark.parametrize(
    ("row", "column", "value", "expected"),
    [
        (4, "email", "not an address", "row 6 email"),
        (0, "mobile", "044 000 00 00", "row 2 mobile"),
        (9, "phone", "+41 44", "row 11 phone"),
    ],
)
def test_bad_row_names_row_and_field_and_imports_nothing(
    cli: Cli, tmp_path: Path, row: int, column: str, value: str, expected: str
) -> None:
    path = tmp_path / "bad.csv"
    rows = write_csv(path, 12)
    rows[row][column] = value
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    line = refused(cli("customers", "import", str(path)), 2)
    assert line.startswith(f"error: {expected}:")
    assert cli.rows("customer") == 0


def test_bad_files(cli: Cli, tmp_path: Path) -> None:
    assert "does not exist" in refused(cli("customers", "import", str(tmp_path / "x.csv")), 2)
    header = tmp_path / "header.csv"
    header.write_text("name,email\nAnna,anna@example.com\n", encoding="utf-8")
    assert "missing: last_name, first_name" in refused(cli("customers", "import", str(header)), 2)
    empty = tmp_path / "empty.csv"
    empty.write_text("last_name,first_name,email\n", encoding="utf-8")
    assert "no rows" in refused(cli("customers", "import", str(empty)), 2)


def test_add_open_and_transfer_needs_identification(cli: Cli) -> None:
    out = ok(
        cli(
            "customers",
            "add",
            "--last-name",
            "Beispiel",
            "--first-name",
            "Ada",
            "--email",
            "ada@example.com",
            "--mobile",
            "+41 79 000 55 55",
            "--mailbox",
            "ada@example.org",
        )
    )
    ada = out.split()[1].rstrip(",")
    contract = out.split("contract ")[1].split(";")[0]
    # Truthful: the link is queued with the customer, not yet sent; the outbox shows it.
    assert "password link queued in the outbox, not sent yet" in " ".join(out.split())
    listed = ok(cli("outbox", "list", "--status", "pending"))
    assert "pending: 1" in listed
    assert f"customer.password_link {ada}" in " ".join(listed.split())
    assert "1 sent" in ok(cli("outbox", "deliver"))
    assert "sent: 1" in ok(cli("outbox", "list"))
    (mail,) = (cli.data_dir / "outgoing" / "mail").glob("*.eml")
    assert "To: ada@example.com" in mail.read_text(encoding="utf-8")
    out = ok(
        cli(
            "customers",
            "add",
            "--last-name",
            "Muster",
            "--first-name",
            "Max",
            "--email",
            "max@example.com",
        )
    )
    max_ = out.split()[1].rstrip(";")
    assert "a2@example.org" in ok(cli("contracts", "open", ada, "--mailbox", "a2@example.org"))
    line = refused(cli("contracts", "transfer", contract, "--to", max_, "--as", "sam"), 7)
    assert "caller_identified" in line
    assert refused(cli("contracts", "show", contract, "--as", "sam"), 7)
    line = refused(cli("customers", "identify", ada, "--method", "fax", "--as", "sam"), 2)
    assert "method" in line
    out = ok(cli("customers", "identify", ada, "--method", "sms_code", "--as", "sam"))
    assert "customers verify idn_" in out
    # Acting as someone needs their credential: a bare name is an authentication failure.
    assert "needs their credential" in refused(cli("customers", "show", ada, "--as", "nobody"), 5)


def test_keys_rotate(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    write_csv(path, 40)
    ok(cli("customers", "import", str(path)))
    old = cli.data_dir / "master.key"
    new = cli.data_dir / "master-2.key"
    assert "created master key" in ok(cli("keys", "new-master-key", str(new)))
    config = tmp_path / "rotate.toml"
    config.write_text(
        f'master_key_file = "{new}"\nprevious_master_key_files = ["{old}"]\n', encoding="utf-8"
    )
    rotating = Cli(cli.runner, cli.data_dir, cli.database_url)
    status = ok(rotating("--config", str(config), "keys", "status"))
    assert "40 data keys (loaded)" in status
    out = ok(rotating("--config", str(config), "keys", "rotate", "--batch-size", "7"))
    assert "40 re-wrapped, 0 already current" in out
    assert "done" in out
    out = ok(rotating("--config", str(config), "keys", "rotate"))
    assert "0 re-wrapped, 40 already current" in out
    only_new = tmp_path / "new.toml"
    only_new.write_text(f'master_key_file = "{new}"\n', encoding="utf-8")
    assert "40 data keys (loaded)" in ok(rotating("--config", str(only_new), "keys", "status"))
    assert "NOT LOADED" in ok(cli("keys", "status"))
