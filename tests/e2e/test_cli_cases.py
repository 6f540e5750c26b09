"""`entrusted cases ... | grants expire` through Typer, on SQLite and PostgreSQL: support opens
a case and asks for access, verbal consent is refused (exit 7) until the agent identified the
caller on that case, resolution ends the grant, and the expiry job runs as the operator."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.crypto.secrets import new_id
from entrusted.domain.policy import Actor, ActorKind
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.e2e.test_cli_foundation import Cli, ok, refused
from tests.unit.registry_world import SIGNUP

pytestmark = pytest.mark.promise("P9", "P10", "P11")

WHY = "The customer's mail client reports a corrupt folder index."


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    cli = Cli(CliRunner(), tmp_path / "data", database_url)
    ok(cli("init"))
    ok(cli.add_staff("sam", "Sam Support", "support"))
    ok(cli.add_staff("sue", "Sue Support", "support"))
    ok(cli.add_staff("leo", "Leo Legal", "legal"))
    return cli


def customer_with_services(cli: Cli) -> tuple[str, str, dict[str, str]]:
    form = Registration(
        "Beispiel",
        "Ida",
        "ida@example.com",
        "044 000 33 33",
        None,
        (ServiceRequest("mailbox", "ida@example.org"), ServiceRequest("ftp_space", "ida-bak")),
    )
    with cli.container() as c:
        done = c.registry.register(SIGNUP, form)
        assert done.contract_id is not None
        view = c.contracts.get(Actor(ActorKind.CUSTOMER, done.customer_id), done.contract_id)
    return done.customer_id, done.contract_id, {s.kind.value: s.id for s in view.services}


def identify(cli: Cli, username: str, customer_id: str, case_id: str) -> None:
    """The caller reads back the code (done in-process: the CLI's mail stays in memory)."""
    with cli.container() as c:
        member = c.staff.get(username)
        agent = Actor(ActorKind.STAFF, member.id, member.roles)
        started = c.identification.start(agent, customer_id, "email_code", case_id=case_id)
        mailer = c.mailer
        assert isinstance(mailer, DirectoryMailer)
        c.identification.verify(agent, started.id, mailer.sent[-1].body.split("code is ")[1][:6])


def test_cases_request_consent_resolve(cli: Cli) -> None:
    customer_id, contract, svc = customer_with_services(cli)
    out = ok(cli("cases", "open", contract, "--subject", "Corrupt folder", "--as", "sam"))
    case = out.split()[0]
    assert case.startswith("case_")
    assert f"customer {customer_id}" in out
    out = ok(
        cli("cases", "request", case, "--service", svc["mailbox"], "--why", WHY, "--as", "sam")
    )
    assert "asked: request acr_" in out
    line = refused(
        cli("cases", "request", case, "--service", svc["mailbox"], "--why", WHY, "--as", "leo"), 7
    )
    assert "no rule permits legal to update case" in line
    line = refused(
        cli("cases", "request", case, "--service", new_id("svc"), "--why", WHY, "--as", "sam"), 7
    )
    assert "consent.resource-not-in-contract" in line
    consent = ("cases", "consent", case, "--service", svc["ftp_space"], "--read-back")
    line = refused(cli(*consent, "--as", "sam"), 7)
    assert "caller_identified" in line
    identify(cli, "sam", customer_id, case)
    assert "caller_identified" in refused(cli(*consent, "--as", "sue"), 7)
    assert "read_back" in refused(cli(*consent[:-1], "--as", "sam"), 2)
    out = ok(cli(*consent, "--as", "sam"))
    assert "recorded vcn_" in out
    grant = out.split("grant ")[1].split()[0]
    shown = ok(cli("cases", "show", case, "--as", "sue"))
    assert f"grant {grant}" in shown
    assert "active" in shown
    assert "pending" in shown
    assert case in ok(cli("cases", "list", "--status", "open", "--as", "sam"))
    assert "resolved" in ok(cli("cases", "resolve", case, "--as", "sam"))
    assert "ended (case_resolved)" in ok(cli("cases", "show", case, "--as", "sam"))
    assert refused(cli("cases", "resolve", case, "--as", "sam"), 4)
    out = ok(cli("cases", "reopen", case, "--as", "sam"))
    assert f"reopens {case}" in out
    assert ok(cli("grants", "expire")).strip() == "0 request(s) lapsed, 0 grant(s) ended"
