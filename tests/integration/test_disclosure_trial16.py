"""Findings of the outside trial of the disclosure desk (issue 16 item 1), on SQLite and
PostgreSQL: nobody gives themselves `legal` to be a second approver; a registration or a
request that fails after the gate's allow leaves a refusal beside it (and bad input leaves
nothing at all); an order's dates are bounded; a transfer's other party is not disclosed;
data already exported under an order does not leave twice; a court code is read whatever its
case; a pending disclosure shows its order's notice day."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.court_orders import RequestForm
from entrusted.services.outcomes import Outcome
from tests.integration import test_disclosures as base
from tests.integration.test_consent_sql import identify
from tests.integration.test_disclosures import Desk, ids
from tests.integration.test_registry_sql import ledgered
from tests.refusals import refused_by

pytestmark = pytest.mark.promise("P5")

desk = base.desk  # the desk's fixture: three customers, two legal officers, a support member


def test_nobody_changes_their_own_roles(desk: Desk) -> None:
    c = desk.c
    member = c.staff.add("nuria", "Nuria Admin", ["sysadmin"], "correct horse battery")
    nuria = Actor(ActorKind.STAFF, member.id, frozenset({Role.SYSADMIN}))
    with refused_by(Outcome.STAFF_OWN_ROLES_REFUSED, ledger=desk.last):
        c.staff.set_roles("nuria", ["sysadmin", "legal"], by=nuria)
    assert c.staff.get("nuria").roles == {Role.SYSADMIN}
    # another administrator may (and that step names them in the ledger)
    other = c.staff.add("olga", "Olga Admin", ["sysadmin"], "correct horse battery")
    olga = Actor(ActorKind.STAFF, other.id, frozenset({Role.SYSADMIN}))
    c.staff.set_roles("nuria", ["sysadmin", "legal"], by=olga)
    last = ledgered(c)[-1]
    assert (last.rule, last.actor_id, last.resource_id) == (
        Outcome.STAFF_ROLES_CHANGED, other.id, member.id
    )


def test_bad_order_input_ledgers_nothing(desk: Desk) -> None:
    c = desk.c
    one = ids(desk)[:1]
    before = len(ledgered(c))
    bad: list[dict[str, object]] = [
        {"issued_on": desk.today + timedelta(days=1)},
        {"valid_until": desk.today - timedelta(days=10)},
        {"document_sha256": "0" * 64},
        {"document_sha256": "A" * 64},
        {"issued_on": date(1, 1, 1), "valid_until": date(9999, 12, 31)},
        {"issued_on": date(1899, 12, 31)},
        {"valid_until": desk.today + timedelta(days=3700)},
        {"notice_after": date(9999, 12, 31)},
    ]
    for change in bad:
        with pytest.raises(InvalidInput):
            c.desk.orders.register_order(
                desk.legal, desk.order_form(one, **change), desk.document
            )
    assert len(ledgered(c)) == before
    assert c.desk.orders.orders(desk.legal) == []


def test_an_unknown_customer_or_request_is_a_ledgered_refusal(desk: Desk) -> None:
    c = desk.c
    nobody = "cus_" + "0" * 16
    for form in (
        desk.order_form([nobody]),
        desk.order_form(ids(desk)[:1], request_id="tpr_" + "0" * 16),
    ):
        with pytest.raises(NotFound):
            c.desk.orders.register_order(desk.legal, form, desk.document)
        allow, refusal = ledgered(c)[-2:]
        assert (allow.decision, allow.resource_id) == ("allow", refusal.resource_id)
        assert (refusal.decision, refusal.rule) == ("deny", Outcome.DISCLOSURE_UNKNOWN_REFERENCE)
    with pytest.raises(NotFound):
        c.desk.orders.record_request(
            desk.legal, RequestForm("Det. X", "Kapo", "all mail", "StPO 265", [nobody])
        )
    refusal = ledgered(c)[-1]
    assert (refusal.decision, refusal.rule) == ("deny", Outcome.DISCLOSURE_UNKNOWN_REFERENCE)
    assert c.desk.orders.requests(desk.legal) == []
    with pytest.raises(NotFound):
        c.desk.disclosures.propose(desk.legal, "cor_" + "0" * 16)
    refusal = ledgered(c)[-1]
    assert (refusal.decision, refusal.rule) == ("deny", Outcome.DISCLOSURE_UNKNOWN_REFERENCE)


def test_a_court_code_is_read_whatever_its_case(desk: Desk) -> None:
    c = desk.c
    for court, stored in (("ch-zh", "CH-ZH"), (" CH-zh ", "CH-ZH"), ("ch-bger", "CH-BGer")):
        order = c.desk.orders.register_order(
            desk.legal, desk.order_form(ids(desk)[:1], court=court), desk.document
        )
        assert order.court == stored


def test_a_pending_disclosure_shows_its_orders_notice_day(desk: Desk) -> None:
    c = desk.c
    day = desk.today + timedelta(days=20)
    order = c.desk.orders.register_order(
        desk.legal, desk.order_form(ids(desk)[:1], notice_after=day), desk.document
    )
    proposed = c.desk.disclosures.propose(desk.legal, order.id)
    assert c.desk.disclosures.get(desk.legal, proposed.id).notice_after == day


def test_transfers_hide_the_other_party_and_nothing_leaves_twice(desk: Desk) -> None:
    c = desk.c
    a, b, _ = ids(desk)
    identify(c, desk.support, b, None)
    c.contracts.transfer(desk.support, desk.contracts[b], to_customer=a)
    order = c.desk.orders.register_order(
        desk.legal, desk.order_form([a], categories=["transfers", "contracts"]), desk.document
    )
    proposed = c.desk.disclosures.propose(desk.legal, order.id, [a], ["transfers"])
    c.desk.disclosures.approve(desk.legal2, proposed.id)
    export = c.desk.disclosures.export(desk.legal, proposed.id)
    transfers = export["customers"][0]["transfers"]
    assert [(t["from"], t["to"]) for t in transfers] == [("another holder", a)]
    assert b not in json.dumps(export)
    # The same customer and category again under the same order: refused, ledgered.
    with pytest.raises(Conflict, match="already left"):
        c.desk.disclosures.propose(desk.legal, order.id, [a], ["transfers", "contracts"])
    refusal = ledgered(c)[-1]
    assert (refusal.decision, refusal.rule) == ("deny", Outcome.DISCLOSURE_ALREADY_EXPORTED)
    # What did not leave yet may still be proposed.
    assert c.desk.disclosures.propose(desk.legal, order.id, [a], ["contracts"]).id
