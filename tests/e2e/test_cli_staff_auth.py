"""The CLI acts for a staff member only with their credential (issue 11 item 5), and staff
administration at the console is ledgered as the operator or the sysadmin whose token it
runs with, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from entrusted.bootstrap import console_operator
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.cli.main import app
from entrusted.services.registry_forms import Registration
from tests.e2e.test_cli_foundation import WIDE, Cli, ok, refused
from tests.integration.test_customer_sessions import reset_link

pytestmark = pytest.mark.promise("P8", "P12")

SIGNUP = Actor(ActorKind.SERVICE, "signup")


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    ok(cli.add_staff("sid", "Sid Sysadmin", "sysadmin"))
    return cli


def run(cli: Cli, *args: str, token: str | None) -> tuple[int, str]:
    """`entrusted ...` with exactly this ENTRUSTED_TOKEN (or none), bypassing the helper."""
    argv = ["--data-dir", str(cli.data_dir), "--database-url", cli.database_url, *args]
    env = {**WIDE, "ENTRUSTED_TOKEN": token or ""}
    result = cli.runner.invoke(app, argv, env=env)
    return result.exit_code, result.stderr if result.exit_code else result.output


def entries(cli: Cli) -> list[AuditEntry]:
    with cli.container() as c:
        store = c.ledger_store
        return [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]


def test_acting_as_a_staff_member_needs_their_token(cli: Cli) -> None:
    find = ("customers", "find", "--email", "nobody@example.com", "--as", "sam")

    def refusal_ledgered() -> None:
        last = entries(cli)[-1]
        assert (last.decision, last.rule, last.actor_id) == (
            "deny",
            "staff.cli-credential-refused",
            console_operator().id,
        )
        assert "sam" not in last.reason  # the kind of refusal, never what was typed

    code, line = run(cli, *find, token=None)
    assert code == 5
    assert "needs their credential" in line
    refusal_ledgered()
    code, line = run(cli, *find, token=cli.token_of("sid"))
    assert code == 5
    assert "is not that of 'sam'" in line
    refusal_ledgered()
    code, _ = run(cli, *find, token="entt_garbage")
    assert code == 5
    refusal_ledgered()
    with cli.container() as c:
        sam = c.staff.get("sam")
    before = len(entries(cli))
    run(cli, *find, token=cli.token_of("sam"))
    assert any(e.actor_id == sam.id for e in entries(cli)[before:])


def test_staff_administration_is_ledgered_as_operator_or_sysadmin(cli: Cli) -> None:
    with cli.container() as c:
        sid, sam = c.staff.get("sid"), c.staff.get("sam")
    ok(cli("staff", "roles", "sam", "--role", "support", "--role", "legal"))
    last = entries(cli)[-1]
    assert (last.rule, last.actor_id, last.resource_id) == (
        "staff.roles-changed", console_operator().id, sam.id
    )
    code, _ = run(cli, "staff", "disable", "sam", token=cli.token_of("sid"))
    assert code == 0
    last = entries(cli)[-1]
    assert (last.rule, last.actor_id) == ("staff.disabled", sid.id)
    ok(cli("staff", "add", "ana", "--name", "Ana", "--role", "support", "--password-stdin",
           stdin="correct horse battery\n"))  # fmt: skip
    line = refused(run_as(cli, "ana", "staff", "disable", "sid"), 7)
    assert "staff_account" in line


def run_as(cli: Cli, username: str, *args: str) -> Result:
    argv = ["--data-dir", str(cli.data_dir), "--database-url", cli.database_url, *args]
    env = {**WIDE, "ENTRUSTED_TOKEN": cli.token_of(username)}
    return cli.runner.invoke(app, argv, env=env)


def test_a_token_of_another_kind_is_named_with_what_is_needed(cli: Cli) -> None:
    """Trial finding: a customer token with `--as` said only "token is not that of ...". The
    refusal now says which kind of token it was and what `--as` needs; still exit 5, ledgered."""
    with cli.container() as c:
        form = Registration(last_name="Example", first_name="Cleo", email="cleo@example.com")
        customer_id = c.registry.register(SIGNUP, form).customer_id
        c.customer_auth.set_password(reset_link(c, customer_id), "customer password 1234")
        customer_token = c.customer_auth.login(
            "cleo@example.com", "customer password 1234", "192.0.2.9"
        ).secret
        service_token = c.staff.issue_service_token("signup", "site").secret
    find = ("customers", "find", "--email", "nobody@example.com", "--as", "sid")
    wanted = "--as needs the personal token of that staff member (entrusted staff token sid)"
    for token, kind in (
        (customer_token, "it is a customer token"),
        (service_token, "it is a service token"),
        (cli.token_of("sam"), "it is the personal token of another staff member"),
    ):
        code, line = run(cli, *find, token=token)
        assert code == 5, line
        said = " ".join(line.split())  # the message as one line, however it was wrapped
        assert kind in said, line
        assert wanted in said, line
        assert entries(cli)[-1].rule == "staff.cli-credential-refused"
