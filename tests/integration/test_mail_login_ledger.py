"""The IMAP staff-login gate on SQLite and PostgreSQL (issue 10 item 2): refusals decided
before the rules are asked (not the hook, wrong password, unknown staff, unknown mailbox) are
ledgered with their reason, and every attempt on a mailbox under an open case carries that
case, so the case's closing summary lists refused attempts as well as allowed ones. Also the
personal-token route: customers and services are refused *and ledgered*."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.api.app import create_app
from entrusted.errors import AuthenticationFailed, NotFound, Refused
from entrusted.services.personal_tokens import issue_personal_token
from tests.integration.test_consent_sql import WHY, link, register
from tests.integration.test_registry_sql import PASSWORD, ledgered, staff
from tests.refusals import http_refused, refused_by
from tests.unit.registry_world import SIGNUP, customer

pytestmark = pytest.mark.promise("P3", "P10", "P11")

ADDRESS = "1reto.rueegsegger@example.org"
HOOK = Actor(ActorKind.SERVICE, "mail_hook")


def last(c: Container) -> AuditEntry:
    return ledgered(c)[-1]


def test_refusals_outside_the_rules_are_ledgered_with_their_reason(c: Container) -> None:
    sam = staff(c, "sam", "support")
    cus, _, svc = register(c, 1)
    for caller in (sam, customer(cus), SIGNUP):
        with pytest.raises(Refused) as caught:
            c.mail_login.login(caller, ADDRESS, "sam", PASSWORD, "192.0.2.1")
        assert caught.value.decision.rule_id == "mail.hook-only"
        entry = last(c)
        assert (entry.actor_id, entry.decision, entry.rule) == (
            caller.id,
            "deny",
            "mail.hook-only",
        )
        assert entry.owner is None  # a caller that is not the hook learns nothing of the box
    # Named by staff id or not at all: the typed username is attacker-chosen (trial: another
    # customer's address landed in this customer's permanent ledger and export).
    for username, password, named in (
        ("sam", "wrong password", sam.id),
        ("bert@example.com", PASSWORD, "an unknown staff name"),
    ):
        with pytest.raises(AuthenticationFailed):
            c.mail_login.login(HOOK, ADDRESS, username, password, "192.0.2.1")
        entry = last(c)
        assert (entry.actor_id, entry.decision, entry.rule) == (
            "mail_hook",
            "deny",
            "mail.staff-unauthenticated",
        )
        assert (entry.owner, entry.resource_id) == (cus, svc["mailbox"])
        assert f"as {named} refused" in entry.reason
        assert "example.com" not in entry.to_bytes().decode()
    for target in ("nobody@example.org", "not an address"):
        with pytest.raises(NotFound):
            c.mail_login.login(HOOK, target, "sam", PASSWORD, "192.0.2.1")
        entry = last(c)
        assert (entry.actor_id, entry.decision, entry.rule, entry.owner) == (
            sam.id,
            "deny",
            "mail.unknown-target",
            None,
        )
        assert target not in entry.to_bytes().decode()  # never the address in the ledger


def test_attempts_under_an_open_case_carry_it_into_the_summary(c: Container) -> None:
    sam, kim = staff(c, "sam", "support"), staff(c, "kim", "support")
    cus, contract, svc = register(c, 1)
    other = register(c, 2)[1]
    c.cases.open(kim, other, "Another customer's case")  # never attributed to customer 1
    case = c.cases.open(sam, contract, "Webmail error")
    with pytest.raises(Refused) as no_grant:
        c.mail_login.login(HOOK, ADDRESS, "sam", PASSWORD, "192.0.2.1")
    assert no_grant.value.decision.rule_id == "mailbox-closed-to-staff"
    refused_login = last(c)
    assert (refused_login.actor_id, refused_login.decision) == (sam.id, "deny")
    assert refused_login.refs["case"] == case.id
    with pytest.raises(AuthenticationFailed):
        c.mail_login.login(HOOK, ADDRESS, "sam", "wrong password", "192.0.2.1")
    assert last(c).refs["case"] == case.id
    # kim has no case of her own here: the newest open one
    with refused_by("mailbox-closed-to-staff", ledger=lambda: last(c)):
        c.mail_login.login(HOOK, ADDRESS, "kim", PASSWORD, "192.0.2.1")
    assert (last(c).actor_id, last(c).refs["case"]) == (kim.id, case.id)
    req = c.consent.request(sam, case.id, svc["mailbox"], WHY)
    c.consent.approve(customer(cus), req.id, link(c))
    allowed = c.mail_login.login(HOOK, ADDRESS, "sam", PASSWORD, "192.0.2.1")
    assert allowed.case_id == case.id
    c.cases.resolve(sam, case.id)
    # What the closing summary draws on: entries filed under the customer naming the case.
    summary = [
        (e.actor_id, e.decision)
        for e in ledgered(c)
        if e.owner == cus and e.refs.get("case") == case.id and e.resource_kind == "mailbox_content"
    ]
    assert summary == [
        (sam.id, "deny"),
        ("mail_hook", "deny"),
        (kim.id, "deny"),
        (sam.id, "allow"),
    ]


def test_the_token_route_refuses_customers_and_services_on_the_ledger(c: Container) -> None:
    cus, _, _ = register(c, 1)
    with pytest.raises(Refused) as caught:
        issue_personal_token(c.staff, c.gate, customer(cus), "mine", None)
    assert caught.value.decision.rule_id == "staff.tokens-staff-only"
    assert (last(c).actor_id, last(c).decision, last(c).rule) == (
        cus,
        "deny",
        "staff.tokens-staff-only",
    )
    client = TestClient(create_app(container=c))
    hook = c.staff.issue_service_token("mail_hook", "dovecot").secret
    answer = client.post(
        "/v1/tokens", json={"label": "mine"}, headers={"Authorization": f"Bearer {hook}"}
    )
    http_refused(answer, "staff.tokens-staff-only")
    entry = last(c)
    assert (entry.actor_kind, entry.actor_id, entry.decision, entry.rule) == (
        "service",
        "mail_hook",
        "deny",
        "staff.tokens-staff-only",
    )


@pytest.fixture
def c(container: Container) -> Container:
    return container
