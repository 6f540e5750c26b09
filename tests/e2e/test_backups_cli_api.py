"""Backups through the CLI and the API, on SQLite and PostgreSQL: the operator runs and
purges, a sysadmin lists, inspects and restores (naming an incident), support is refused by
the rule (exit 7, 403), a customer sees their own backups' dates, and bad input is a clear
error that restores nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faker import Faker
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrusted.bootstrap import WORKER, Container
from entrusted.crypto.secrets import new_id
from entrusted.domain.audit import AuditEntry
from entrusted.domain.ids import INVALID_ID
from entrusted.entrypoints.api.app import create_app
from entrusted.services.registry_forms import Registration
from tests.conftest import FakeClock
from tests.e2e.test_api_contact_email import customer_with_session
from tests.e2e.test_api_id_shapes import database_text, ledger_bytes
from tests.e2e.test_api_registry import staff_token
from tests.e2e.test_cli_foundation import Cli, ok, refused
from tests.refusals import http_refused
from tests.unit.registry_world import SIGNUP

pytestmark = pytest.mark.promise("P15", "P16")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    ok(cli.add_staff("sid", "Sid Sysadmin", "sysadmin"))
    return cli


def test_the_cli_runs_lists_restores_and_refuses_support(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["last_name", "first_name", "email", "phone", "mobile"])
        writer.writerow(["Meier", "Lea", "lea.meier@example.com", "044 000 30 01", ""])
    ok(cli("customers", "import", str(path)))
    assert "1 archives sealed" in ok(cli("backups", "run"))
    listing = ok(cli("backups", "list", "--as", "sid"))
    archive_id = listing.split()[0]
    assert archive_id.startswith("bkp_")
    assert "record" in listing
    assert "commitment" in ok(cli("backups", "inspect", archive_id, "--as", "sid"))
    line = refused(cli("backups", "list", "--as", "sam"), 7)
    assert "backups are not available to the support team" in line
    refused(cli("backups", "restore", archive_id, "x", "--incident", "INC-1", "--as", "sam"), 7)
    assert "names the case or the incident" in refused(
        cli("backups", "restore", archive_id, "x", "--as", "sid"), 2
    )
    assert "target" in refused(
        cli("backups", "restore", archive_id, "../x", "--incident", "INC-1", "--as", "sid"), 2
    )
    assert "never written back" in refused(
        cli("backups", "restore", archive_id, "--into-live", "--incident", "INC-1", "--as", "sid"),
        4,
    )
    out = ok(cli("backups", "restore", archive_id, "lea", "--incident", "INC-1", "--as", "sid"))
    assert "restored 1 files" in out
    assert (tmp_path / "data" / "restores" / "lea" / "record.json").is_file()
    assert "none due" in ok(cli("backups", "purge"))
    assert "live archives: 1" in ok(cli("backups", "status"))


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


def test_the_api_serves_sysadmins_and_customers_and_refuses_support(
    client: TestClient, container: Container
) -> None:
    alice, me = customer_with_session(client, container)
    container.backups.runner.run(WORKER)
    mine = client.get("/v1/backups/mine", headers=me)
    assert mine.status_code == 200, mine.text
    (own,) = mine.json()
    assert (own["customer_id"], own["source"], own["status"]) == (alice, "record", "complete")
    assert own["destroy_after"] > own["taken_at"]
    admin = staff_token(container, "sid", "sysadmin")
    support = staff_token(container, "sam", "support")
    listed = client.get("/v1/backups", headers=admin).json()
    assert [b["id"] for b in listed] == [own["id"]]
    inspected = client.get(f"/v1/backups/{own['id']}", headers=admin).json()
    assert len(inspected["key_commitment"]) == 64
    http_refused(client.get("/v1/backups", headers=support), "support-never-touches-backups")
    body = {"target": "alice", "incident": "INC-7"}
    http_refused(
        client.post(f"/v1/backups/{own['id']}/restore", json=body, headers=support),
        "support-never-touches-backups",
    )
    assert client.get("/v1/backups/not-an-id", headers=admin).status_code == 422
    bad = client.post(
        f"/v1/backups/{own['id']}/restore",
        json={"target": "/etc/x", "incident": "I"},
        headers=admin,
    )
    assert bad.status_code == 422, bad.text
    live = {"into_live": True, "incident": "INC-7"}
    record = client.post(f"/v1/backups/{own['id']}/restore", json=live, headers=admin)
    assert record.status_code == 409, record.text
    assert "never written back" in record.text
    done = client.post(f"/v1/backups/{own['id']}/restore", json=body, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["files"] == 1
    # A customer never sees the whole catalogue.
    assert client.get("/v1/backups", headers=me).status_code == 403


def test_readyz_flags_overdue_destruction_until_the_purge_ran(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    customer_with_session(client, container)
    container.backups.runner.run(WORKER)
    assert client.get("/readyz").json()["backups"] == {"overdue_days": []}
    clock.advance(days=7)
    answer = client.get("/readyz")
    body = answer.json()
    assert (answer.status_code, body["status"], body["failed"]) == (503, "unready", ["backups"])
    assert body["backups"]["overdue_days"] == ["2026-11-27"]
    container.backups.purge.purge(WORKER)
    assert client.get("/readyz").json()["backups"] == {"overdue_days": []}


MAIL = Faker().email()  # e-mail-like text where an id belongs


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", f"/v1/backups/{MAIL}", None, "backup_id"),
        ("GET", f"/v1/backups?customer_id={MAIL}", None, "customer_id"),
        ("POST", f"/v1/backups/{MAIL}/restore", {"target": "x", "incident": "I-1"}, "backup_id"),
        (
            "POST",
            f"/v1/backups/{new_id('bkp')}/restore",
            {"target": "x", "case_id": MAIL},
            "case_id",
        ),
    ],
)
def test_text_that_is_no_id_is_refused_and_ledgered_without_the_text(
    client: TestClient,
    container: Container,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    """As tests/e2e/test_api_id_shapes.py: `422` naming the field, one ledger entry under the
    placeholder id, and the text nowhere in the ledger or the database."""
    admin = staff_token(container, "sid", "sysadmin")
    before = container.ledger_store.stored_size()
    r = client.request(method, path, json=body, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, field), r.text
    assert MAIL not in r.text
    after = ledger_bytes(container)[before:]
    assert len(after) == 1
    entry = AuditEntry.from_bytes(after[0])
    assert (entry.decision, entry.rule) == ("deny", "gate.invalid-request")
    assert (entry.resource_id, entry.owner, entry.refs) == (INVALID_ID, None, {})
    assert MAIL.encode() not in b"".join(ledger_bytes(container))
    assert MAIL not in database_text(container.engine)


def cli_ledger_size(cli: Cli) -> int:
    with cli.container() as c:
        return c.ledger_store.stored_size()


@pytest.mark.parametrize(
    "args",
    [
        ("backups", "list", "--customer", MAIL, "--as", "sid"),
        ("backups", "inspect", MAIL, "--as", "sid"),
        ("backups", "restore", MAIL, "x", "--incident", "INC-1", "--as", "sid"),
        ("backups", "restore", new_id("bkp"), "x", "--case", MAIL, "--as", "sid"),
    ],
)
def test_the_cli_refuses_text_that_is_no_id_before_anything_is_ledgered(
    cli: Cli, args: tuple[str, ...]
) -> None:
    """An e-mail address typed where an id belongs is a usage error (exit 2) naming the
    option, and neither it nor anything else reaches the ledger (issue 15, finding 1)."""
    ok(cli("backups", "list", "--as", "sid"))  # the harness mints sid's token first
    before = cli_ledger_size(cli)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert " id (like " in result.output, result.output
    assert MAIL not in result.output
    assert cli_ledger_size(cli) == before


def test_the_cli_names_the_option_and_says_what_it_takes(cli: Cli) -> None:
    """Finding 6: `--incident` is named when it is wrong, and the help says what is needed."""
    bad = cli("backups", "restore", new_id("bkp"), "x", "--incident", "INC 1", "--as", "sid")
    assert bad.exit_code == 2, bad.output
    assert "--incident" in bad.output
    assert "context.ticket" not in bad.output
    restore_help = ok(cli("backups", "restore", "--help"))
    assert "--case or --incident is required" in " ".join(restore_help.split())
    assert "customer id" in " ".join(ok(cli("backups", "list", "--help")).split())


@pytest.mark.parametrize("target", ["a\x00b", "a" * 250, "sub/" + "b" * 240, "a\nb"])
def test_a_bad_restore_target_is_a_usage_error_and_nothing_is_decided(
    cli: Cli, tmp_path: Path, target: str
) -> None:
    """Finding 2: a NUL, a control character or a name too long for the staging directory
    is refused (exit 2, the field named) before the gate, no traceback, no ledger entry."""
    ok(
        cli(
            "customers",
            "add",
            "--last-name",
            "Meier",
            "--first-name",
            "Lea",
            "--email",
            Faker().email(),
        )
    )
    ok(cli("backups", "run"))
    archive_id = ok(cli("backups", "list", "--as", "sid")).split()[0]
    before = cli_ledger_size(cli)
    line = refused(
        cli("backups", "restore", archive_id, target, "--incident", "INC-1", "--as", "sid"), 2
    )
    assert "target" in line
    assert cli_ledger_size(cli) == before
    assert not list((tmp_path / "data" / "restores").glob("*"))


def test_the_api_answers_the_trials_findings(client: TestClient, container: Container) -> None:
    """Issue 15's trial: a target the filesystem cannot take is `422` naming it (not 500);
    a customer reads their own backups' metadata, never another's; `/mine` refuses staff."""
    alice, me = customer_with_session(client, container)
    container.backups.runner.run(WORKER)
    admin = staff_token(container, "sid", "sysadmin")
    (own,) = client.get("/v1/backups/mine", headers=me).json()
    for target in ("a\x00b", "a\x01b", "a" * 250):
        r = client.post(
            f"/v1/backups/{own['id']}/restore",
            json={"target": target, "incident": "INC-8"},
            headers=admin,
        )
        assert r.status_code == 422, r.text  # a NUL anywhere in a body: the app's own check
        assert "\x00" in target or r.json()["field"] == "target", r.text
    mine = client.get(f"/v1/backups?customer_id={alice}", headers=me)
    assert [b["id"] for b in mine.json()] == [own["id"]], mine.text
    assert client.get(f"/v1/backups/{own['id']}", headers=me).json()["id"] == own["id"]
    fake = Faker()
    form = Registration(fake.last_name(), fake.first_name(), fake.email(), None, None, ())
    ben = container.registry.register(SIGNUP, form).customer_id
    container.backups.runner.run(WORKER)
    (bens,) = client.get(f"/v1/backups?customer_id={ben}", headers=admin).json()
    assert client.get(f"/v1/backups/{bens['id']}", headers=me).status_code == 403
    assert client.get(f"/v1/backups?customer_id={ben}", headers=me).status_code == 403
    http_refused(client.get("/v1/backups/mine", headers=admin), "backups.not-a-customer")


def test_a_restore_answer_carries_names_that_are_not_utf8(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A skipped link whose name is not UTF-8 on disk (a surrogate escape in Python) is in the
    answer as `\\xNN`, not a 500 after the restore happened (review finding 6)."""
    from entrusted.services.backup_access import Restored

    admin = staff_token(container, "sid", "sysadmin")
    odd = b"caf\xe9-link".decode("utf-8", "surrogateescape")
    done = Restored("bkp_0000000000000000", Path("/restored/x"), 3, 1, None, (odd, "plain"))
    monkeypatch.setattr(container.backups.access, "restore", lambda *a, **k: done)
    r = client.post(
        "/v1/backups/bkp_0000000000000000/restore",
        json={"target": "x", "incident": "I-1"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["skipped_links"] == ["caf\\xe9-link", "plain"]
