"""`entrusted provisioning import FILE [--dry-run]` through Typer, on SQLite and PostgreSQL
(issue 17): a dry run shows the changes and writes nothing (not even the ledger), an import is
all or nothing (a bad row or a clash writes nothing at all, naming the row), a repeated
import changes nothing, and JSON holds the same records as CSV. `customers import` still
takes its own file as before."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrusted.domain.audit import AuditEntry
from entrusted.services.outcomes import Outcome
from tests.e2e.test_cli_foundation import Cli, ok, refused
from tests.unit.registry_world import People

pytestmark = pytest.mark.promise("P1", "P3")

COLUMNS = ["record", "external_id", "customer", "contract", "kind", "name",
           "last_name", "first_name", "email", "phone", "mobile"]  # fmt: skip
TABLES = ("customer", "contract", "hosted_service", "provisioned_customer", "ledger_entry")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    return cli


def records(count: int) -> list[dict[str, str]]:
    people, rows = People(seed=33), []
    for n in range(1, count + 1):
        f = people.form()
        rows += [
            {"record": "customer", "external_id": f"K-{n}", "last_name": f.last_name,
             "first_name": f.first_name, "email": f.email, "phone": str(f.phone)},
            {"record": "contract", "external_id": f"C-{n}", "customer": f"K-{n}"},
            {"record": "service", "contract": f"C-{n}", "external_id": "mail",
             "kind": "mailbox", "name": f"info{n}@example.org"},
            {"record": "service", "contract": f"C-{n}", "external_id": "ftp",
             "kind": "ftp_space", "name": f"space{n}"},
            {"record": "service", "contract": f"C-{n}", "external_id": "web",
             "kind": "web_site", "name": f"www.shop{n}.example.org"},
            {"record": "service", "contract": f"C-{n}", "external_id": "dom",
             "kind": "domain", "name": f"shop{n}.example.org"},
        ]  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def counts(cli: Cli) -> dict[str, int]:
    return {t: cli.rows(t) for t in TABLES}


def test_dry_run_import_and_repeat(cli: Cli, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sync.csv", records(5))
    before = counts(cli)
    out = ok(cli("provisioning", "import", str(path), "--dry-run"))
    assert "dry run, nothing written: would be 30 created" in out
    assert "K-3" in out
    assert "cus_" in out
    assert counts(cli) == before  # nothing, not even a ledger entry
    out = ok(cli("provisioning", "import", str(path)))
    assert "30 created, 0 updated, 0 unchanged, 0 removed" in out
    assert cli.rows("customer") == 5
    assert cli.rows("hosted_service") == 20
    out = ok(cli("provisioning", "import", str(path)))
    assert "0 created, 0 updated, 30 unchanged, 0 removed" in out
    # The same records in JSON, with a rename and a removal: only those change.
    rows = records(5)
    rows[2]["name"] = "renamed1@example.org"
    del rows[25], rows[9]  # C-5's contract record and C-2's FTP space: cancelled and removed
    rows.append({"record": "remove_service", "contract": "C-2", "external_id": "ftp"})
    rows.append({"record": "cancel_contract", "external_id": "C-5"})
    (tmp_path / "sync.json").write_text(json.dumps(rows), encoding="utf-8")
    out = ok(cli("provisioning", "import", str(tmp_path / "sync.json"), "--dry-run"))
    assert "would be 0 created, 1 updated, 27 unchanged, 2 removed" in out
    out = ok(cli("provisioning", "import", str(tmp_path / "sync.json")))
    assert "0 created, 1 updated, 27 unchanged, 2 removed" in out
    assert cli.rows("hosted_service") == 20  # the removed one is kept for its history
    # `customers import` still reads its own file of personal details only.
    people = tmp_path / "people.csv"
    with people.open("w", newline="", encoding="utf-8") as out_file:
        out_file.write("last_name,first_name,email\nMuster,Anna,anna.muster@example.com\n")
    assert "imported 1 customers" in ok(cli("customers", "import", str(people)))


INVALID, CONFLICT = Outcome.INVALID_REQUEST.value, Outcome.PROVISIONING_CONFLICT.value


def last_entry(cli: Cli) -> AuditEntry:
    with cli.container() as c:
        store = c.ledger_store
        return AuditEntry.from_bytes(store.entries(store.stored_size() - 1, store.stored_size())[0])


@pytest.mark.parametrize(
    ("row", "column", "value", "expected", "code", "rule"),
    [
        (9, "kind", "printer", "row 11 kind", 2, INVALID),
        (0, "email", "not an address", "row 2 email", 2, INVALID),
        (7, "customer", "K-404", "row 9 customer", 2, INVALID),
        (12, "email", "", "row 14 email", 2, INVALID),
        (8, "name", "info1@example.org", "row 10", 4, CONFLICT),  # a mailbox hosted twice
        (8, "record", "remove_service", "row 10 service", 2, INVALID),  # never provisioned
    ],
)
def test_a_failing_row_writes_nothing_at_all(
    cli: Cli,
    tmp_path: Path,
    row: int,
    column: str,
    value: str,
    expected: str,
    code: int,
    rule: str,
) -> None:
    rows = records(4)
    rows[row][column] = value
    path = write_csv(tmp_path / "bad.csv", rows)
    before = counts(cli)
    line = refused(cli("provisioning", "import", str(path)), code)
    assert line.startswith(f"error: {expected}"), line
    after = counts(cli)
    # Every refusal is ledgered, naming the outcome that refused it, and only that is written.
    ledger = after.pop("ledger_entry")
    assert ledger - before.pop("ledger_entry") == 1
    assert after == before
    entry = last_entry(cli)
    assert (entry.decision, entry.rule) == ("deny", rule)
    assert not value or value.encode() not in entry.to_bytes()  # the row's text stays out
    # A dry run of the same file writes nothing, not even the refusal.
    refused(cli("provisioning", "import", str(path), "--dry-run"), code)
    assert cli.rows("ledger_entry") == ledger


def test_an_unknown_column_or_an_endless_file_is_refused_before_anything(
    cli: Cli, tmp_path: Path
) -> None:
    # A header typo (`mobil`) would read as no mobile number and clear the one on file (trial
    # finding); a `;`-separated file is one unknown column; /dev/zero never ends.
    typo = tmp_path / "typo.csv"
    typo.write_text("record,external_id,last_name,first_name,email,mobil\n"
                    "customer,K-1,Muster,Anna,anna@example.com,+41 79 000 00 01\n")  # fmt: skip
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("record;external_id\ncustomer;K-1\n")
    before = counts(cli)
    line = refused(cli("provisioning", "import", str(typo), "--dry-run"), 2)
    assert "unknown column(s) mobil" in line, line
    line = refused(cli("provisioning", "import", str(semicolons)), 2)
    assert "comma-separated" in line, line
    line = refused(cli("provisioning", "import", "/dev/zero"), 2)
    assert "not a regular file" in line, line
    assert counts(cli) == before


def test_language_and_zone_columns_are_imported_checked_and_ledgered(
    cli: Cli, tmp_path: Path
) -> None:
    # Trial finding: a customer provisioned in French got English mails.
    columns = [*COLUMNS, "language", "time_zone"]
    rows = [{**r, "language": "fr", "time_zone": "Europe/Zurich"} if r["record"] == "customer"
            else r for r in records(2)]  # fmt: skip
    path = tmp_path / "prefs.csv"
    with path.open("w", newline="", encoding="utf-8") as out_file:
        writer = csv.DictWriter(out_file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    out = ok(cli("provisioning", "import", str(path)))
    assert "12 created" in out
    ids = sorted(set(re.findall(r"cus_\w+", out)))
    assert len(ids) == 2

    def stored() -> list[tuple[str | None, str | None]]:
        with cli.container() as c:
            return [(p.language, p.time_zone) for p in map(c.registry.preferences, ids)]

    assert stored() == [("fr", "Europe/Zurich")] * 2
    # Only one customer's language changes (JSON, the zone left out): one update, ledgered.
    rows[0] = {**rows[0], "language": "it"}
    del rows[0]["time_zone"]
    (tmp_path / "prefs.json").write_text(json.dumps(rows), encoding="utf-8")
    before = cli.rows("ledger_entry")
    out = ok(cli("provisioning", "import", str(tmp_path / "prefs.json")))
    assert "0 created, 1 updated, 11 unchanged, 0 removed" in out
    assert sorted(stored()) == [("fr", "Europe/Zurich"), ("it", "Europe/Zurich")]
    assert cli.rows("ledger_entry") - before == 12 + 1  # every decision, one outcome
    assert last_entry(cli).rule == Outcome.PROVISIONED.value
    # An unknown language or zone: exit 2 naming the row and column, nothing but the refusal.
    for column, value in (("language", "klingon"), ("time_zone", "Mars/Olympus")):
        bad = [dict(r) for r in rows]
        bad[6][column] = value  # K-2's customer record
        (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
        before_counts = counts(cli)
        line = refused(cli("provisioning", "import", str(tmp_path / "bad.json")), 2)
        assert line.startswith(f"error: row 7 {column}"), line
        after = counts(cli)
        assert after.pop("ledger_entry") - before_counts.pop("ledger_entry") == 1
        assert after == before_counts
        entry = last_entry(cli)
        assert (entry.decision, entry.rule) == ("deny", INVALID)
        assert value.encode() not in entry.to_bytes()  # the row's text stays out
        assert sorted(stored()) == [("fr", "Europe/Zurich"), ("it", "Europe/Zurich")]
