"""The disclosure desk (issue 16 item 1, P4, P5) wired by the composition root, on SQLite and
PostgreSQL: a third-party request is recorded and refused by the rules; a court order from
outside Switzerland or already expired is refused with its reason; a disclosure needs a
second legal officer, never the one who proposed it; the export holds exactly the customers
and categories the order covers (the oracle is built from what the test registered, not from
the code under test); nothing leaves on a refusal; the customer's notice is queued, or
deferred while the order forbids it and lifted by the worker when the day comes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.directory_transport import DirectoryMailer
from entrusted.bootstrap import WORKER, Container
from entrusted.bootstrap.disclosures import DISCLOSURE_LIFT_JOB
from entrusted.crypto.documents import open_document
from entrusted.domain.disclosures import Disclosure
from entrusted.domain.outbox import OutboxStatus, Topic
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import Conflict, InvalidInput
from entrusted.services.court_orders import OrderForm, RequestForm
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import FakeClock, count_rows
from tests.integration.test_registry_sql import ledgered, raw_rows, staff
from tests.refusals import default_denied, refused_by
from tests.unit.registry_world import SIGNUP, People

pytestmark = pytest.mark.promise("P4", "P5")


@dataclass
class Desk:
    c: Container
    clock: FakeClock
    forms: dict[str, Registration]  # customer id -> what the test registered
    contracts: dict[str, str]  # customer id -> its contract id
    legal: Actor
    legal2: Actor
    support: Actor
    document: bytes

    @property
    def today(self) -> date:
        return self.clock().date()

    def last(self) -> object:
        return ledgered(self.c)[-1]

    def order_form(self, customers: list[str], **kw: object) -> OrderForm:
        values: dict[str, object] = {
            "court": "CH-ZH",
            "case_number": "GG260042",
            "issued_on": self.today - timedelta(days=2),
            "valid_until": self.today + timedelta(days=30),
            "customer_ids": customers,
            "categories": ["personal_details", "contracts"],
        }
        values.update(kw)
        return OrderForm(**values)  # type: ignore[arg-type]

    def exported_with_notice_after(self, days: int) -> tuple[Disclosure, dict[str, Any]]:
        """A disclosure of the first customer's personal details under an order that defers
        the customer's notice by `days`: proposed, approved by the second officer and
        exported; the disclosure and its export."""
        order = self.c.desk.orders.register_order(
            self.legal,
            self.order_form(ids(self)[:1], categories=["personal_details"],
                            notice_after=self.today + timedelta(days=days)),
            self.document,
        )
        proposed = self.c.desk.disclosures.propose(self.legal, order.id)
        self.c.desk.disclosures.approve(self.legal2, proposed.id)
        return proposed, self.c.desk.disclosures.export(self.legal, proposed.id)


@pytest.fixture
def desk(container: Container, clock: FakeClock) -> Desk:
    people = People(seed=16)
    forms: dict[str, Registration] = {}
    contracts: dict[str, str] = {}
    for n in range(3):
        form = people.form(services=(ServiceRequest("mailbox", f"box{n}@example.com"),))
        done = container.registry.register(SIGNUP, form)
        assert done.contract_id is not None
        forms[done.customer_id] = form
        contracts[done.customer_id] = done.contract_id
    return Desk(
        container, clock, forms, contracts,
        staff(container, "legal1", "legal"), staff(container, "legal2", "legal"),
        staff(container, "support1", "support"),
        b"%PDF-1.7 order of the court " + os.urandom(64),
    )


def notices(c: Container) -> int:
    """Disclosure notices in the outbox (registration queues password links there too)."""
    with c.engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(t.outbox)
            .where(t.outbox.c.topic == Topic.DISCLOSURE_NOTICE.value)
        ).scalar_one())


def ids(d: Desk) -> list[str]:
    return list(d.forms)


def test_a_third_party_request_is_recorded_and_refused(desk: Desk) -> None:
    c = desk.c
    customer = ids(desk)[0]
    request = c.desk.orders.record_request(
        desk.legal,
        RequestForm("Det. Example", "Kantonspolizei Example", "all e-mail of the customer",
                    "StPO Art. 265", [customer]),
    )
    entries = ledgered(c)
    refusal = next(e for e in entries if e.actor_kind == "third_party")
    assert (refusal.decision, refusal.rule, refusal.resource_id) == (
        "deny", "third-parties-never-act-directly", request.id
    )
    assert request.answer == refusal.reason
    recorded = (Outcome.DISCLOSURE_REQUEST_RECORDED, "allow")
    assert (entries[-1].rule, entries[-1].decision) == recorded
    assert [r.id for r in c.desk.orders.requests(desk.legal)] == [request.id]
    assert notices(c) == 0
    with default_denied("support to create disclosure", ledger=desk.last):
        c.desk.orders.record_request(desk.support, RequestForm("a", "b", "c", "d"))
    with pytest.raises(InvalidInput):
        c.desk.orders.record_request(desk.legal, RequestForm("", "b", "c", "d"))


def test_foreign_and_expired_orders_are_refused_with_the_reason(desk: Desk) -> None:
    c = desk.c
    one = ids(desk)[:1]
    for court in ("DE-BGH", "CH-XX", "US-SCOTUS"):
        with refused_by(Outcome.COURT_ORDER_FOREIGN, ledger=desk.last) as caught:
            c.desk.orders.register_order(desk.legal, desk.order_form(one, court=court),
                                         desk.document)
        assert "not a Swiss court" in caught.value.decision.reason
    with refused_by(Outcome.COURT_ORDER_EXPIRED, ledger=desk.last):
        c.desk.orders.register_order(
            desk.legal,
            desk.order_form(one, issued_on=desk.today - timedelta(days=60),
                            valid_until=desk.today - timedelta(days=1)),
            desk.document,
        )
    with pytest.raises(InvalidInput, match="document_sha256"):
        c.desk.orders.register_order(
            desk.legal, desk.order_form(one, document_sha256="0" * 64), desk.document
        )
    with pytest.raises(InvalidInput, match="categories"):
        c.desk.orders.register_order(
            desk.legal, desk.order_form(one, categories=["mailbox_content"]), desk.document
        )
    with default_denied("support to create disclosure", ledger=desk.last):
        c.desk.orders.register_order(desk.support, desk.order_form(one), desk.document)
    assert count_rows(c.engine, "court_order") == 0
    for court in ("CH-BGer", "CH-BStGer", "CH-BVGer", "CH-BPatGer", "CH-VD", "CH-AI"):
        c.desk.orders.register_order(desk.legal, desk.order_form(one, court=court), desk.document)
    assert count_rows(c.engine, "court_order") == 6


def test_the_order_document_is_stored_sealed_with_its_sha256(desk: Desk) -> None:
    c = desk.c
    digest = hashlib.sha256(desk.document).hexdigest()
    order = c.desk.orders.register_order(
        desk.legal, desk.order_form(ids(desk)[:1], document_sha256=digest), desk.document
    )
    assert order.document_sha256 == digest
    assert not any(desk.document[-32:] in cell for cell in raw_rows(c.engine))
    with c.desk.orders._p.uow() as uow:
        sealed = uow.disclosures.document(order.id)
    assert sealed is not None
    assert open_document(c.registry_keys().keyring, order.id, sealed) == desk.document
    last = ledgered(c)[-1]
    assert (last.rule, last.refs.get("note"), last.refs.get("court_order")) == (
        Outcome.COURT_ORDER_REGISTERED, digest, order.id
    )


def test_a_disclosure_needs_a_second_approver_and_holds_exactly_what_is_covered(
    desk: Desk,
) -> None:
    c = desk.c
    a, b, other = ids(desk)
    order = c.desk.orders.register_order(desk.legal, desk.order_form([a, b]), desk.document)
    # More than the order covers: another customer, another category.
    with refused_by(Outcome.DISCLOSURE_NOT_COVERED, ledger=desk.last):
        c.desk.disclosures.propose(desk.legal, order.id, [a, other])
    with refused_by(Outcome.DISCLOSURE_NOT_COVERED, ledger=desk.last):
        c.desk.disclosures.propose(desk.legal, order.id, [a], ["transfers"])
    proposed = c.desk.disclosures.propose(desk.legal, order.id)
    # Missing second approver, then the proposer approving their own disclosure.
    with refused_by(Outcome.DISCLOSURE_NOT_APPROVED, ledger=desk.last):
        c.desk.disclosures.export(desk.legal, proposed.id)
    with refused_by(Outcome.DISCLOSURE_SELF_APPROVAL, ledger=desk.last):
        c.desk.disclosures.approve(desk.legal, proposed.id)
    with default_denied("support to approve disclosure", ledger=desk.last):
        c.desk.disclosures.approve(desk.support, proposed.id)
    assert notices(c) == 0  # nothing left on any refusal
    c.desk.disclosures.approve(desk.legal2, proposed.id)
    before = len(ledgered(c))
    export = c.desk.disclosures.export(desk.legal, proposed.id)

    # The oracle: from the forms this test registered, not from the code under test.
    expected = {
        cid: {
            "personal_details": (desk.forms[cid].last_name, desk.forms[cid].first_name,
                                 desk.forms[cid].email.lower()),
            "contracts": {(desk.contracts[cid], tuple(s.name for s in desk.forms[cid].services))},
        }
        for cid in (a, b)
    }
    got = {
        cust["id"]: {
            "personal_details": (cust["personal_details"]["last_name"],
                                 cust["personal_details"]["first_name"],
                                 cust["personal_details"]["email"]),
            "contracts": {(k["id"], tuple(s["name"] for s in k["services"]))
                          for k in cust["contracts"]},
        }
        for cust in export["customers"]
    }
    assert got == expected
    assert all(set(cust) == {"id", "personal_details", "contracts"}
               for cust in export["customers"])
    text = json.dumps(export, ensure_ascii=False)
    stranger = desk.forms[other]
    assert stranger.email not in text
    assert stranger.last_name not in text
    assert other not in text
    assert desk.contracts[other] not in text

    digest = hashlib.sha256(desk.document).hexdigest()
    assert export["court_order"]["document_sha256"] == digest
    new = ledgered(c)[before:]
    disclosed = [e for e in new if e.action == "disclose" and e.resource_kind != "disclosure"]
    assert {(e.resource_kind, e.owner) for e in disclosed} == {
        ("personal_details", a), ("personal_details", b), ("contract", a), ("contract", b)
    }
    assert {(e.rule, e.decision) for e in disclosed} == {
        ("legal-discloses-under-court-order", "allow")
    }
    done = next(e for e in new if e.rule == Outcome.DISCLOSED)
    assert digest in done.reason
    assert done.refs["note"] == digest
    assert {e.owner for e in new if e.rule == Outcome.DISCLOSURE_NOTICE_QUEUED} == {a, b}

    # The customers' notices went through the outbox, to them and nobody else.
    queued = {(m.topic, m.ref) for m in c.outbox.list(OutboxStatus.PENDING)
              if m.topic is Topic.DISCLOSURE_NOTICE}
    assert queued == {(Topic.DISCLOSURE_NOTICE, f"{proposed.id}/{cid}") for cid in (a, b)}
    assert c.outbox.deliver().failed == 0
    mailer = c.mailer
    assert isinstance(mailer, DirectoryMailer)
    told = [m for m in mailer.sent if m.subject == "Data disclosed under a Swiss court order"]
    assert sorted(m.to for m in told) == sorted(desk.forms[x].email.lower() for x in (a, b))
    assert all("CH-ZH, case GG260042" in m.body for m in told)
    with pytest.raises(Conflict):
        c.desk.disclosures.export(desk.legal, proposed.id)


def test_the_gate_resolves_court_order_for_the_customers_it_names(desk: Desk) -> None:
    c = desk.c
    a, _, other = ids(desk)
    order = c.desk.orders.register_order(desk.legal, desk.order_form([a]), desk.document)
    context = AccessContext(court_order_id=order.id)
    allowed = c.gate.decide(
        desk.legal, Action.DISCLOSE, Resource(ResourceKind.PERSONAL_DETAILS, a, owner=a), context
    )
    assert allowed.decision.rule_id == "legal-discloses-under-court-order"
    with refused_by("nobody-discloses-without-court-order", ledger=desk.last):
        c.gate.decide(desk.legal, Action.DISCLOSE,
                      Resource(ResourceKind.PERSONAL_DETAILS, other, owner=other), context)
    desk.clock.advance(days=31)  # the order has expired: the condition no longer holds
    with refused_by("nobody-discloses-without-court-order", ledger=desk.last):
        c.gate.decide(desk.legal, Action.DISCLOSE,
                      Resource(ResourceKind.PERSONAL_DETAILS, a, owner=a), context)


def test_an_expired_order_discloses_nothing(desk: Desk) -> None:
    c = desk.c
    a = ids(desk)[0]
    order = c.desk.orders.register_order(
        desk.legal, desk.order_form([a], valid_until=desk.today + timedelta(days=3)),
        desk.document,
    )
    proposed = c.desk.disclosures.propose(desk.legal, order.id)
    c.desk.disclosures.approve(desk.legal2, proposed.id)
    desk.clock.advance(days=5)
    with refused_by(Outcome.COURT_ORDER_EXPIRED, ledger=desk.last):
        c.desk.disclosures.export(desk.legal, proposed.id)
    assert not [e for e in ledgered(c) if e.action == "disclose" and e.decision == "allow"]
    assert notices(c) == 0
    assert c.desk.disclosures.get(desk.legal, proposed.id).status.value == "approved"


def test_the_notice_is_deferred_while_the_order_forbids_it_then_lifted(desk: Desk) -> None:
    c = desk.c
    a = ids(desk)[0]
    proposed, export = desk.exported_with_notice_after(days=20)
    assert [set(cust) for cust in export["customers"]] == [{"id", "personal_details"}]
    deferral = ledgered(c)[-1]
    assert (deferral.rule, deferral.owner) == (Outcome.DISCLOSURE_NOTICE_DEFERRED, a)
    assert notices(c) == 0
    job = next(j for j in c.jobs if j.name == DISCLOSURE_LIFT_JOB)
    assert job.run() is None  # the day has not come: nothing happened
    assert notices(c) == 0
    desk.clock.advance(days=20)
    assert str(job.run()).startswith("1 ")
    lifted = ledgered(c)[-1]
    assert (lifted.rule, lifted.actor_id) == (Outcome.DISCLOSURE_NOTICE_LIFTED, WORKER.id)
    queued = [(m.topic, m.ref) for m in c.outbox.list(OutboxStatus.PENDING)
              if m.topic is Topic.DISCLOSURE_NOTICE]
    assert queued == [(Topic.DISCLOSURE_NOTICE, f"{proposed.id}/{a}")]
    assert c.desk.disclosures.lift_deferred(WORKER) == 0  # lifted once


def test_two_racing_exports_disclose_once(desk: Desk) -> None:
    c = desk.c
    a = ids(desk)[0]
    order = c.desk.orders.register_order(desk.legal, desk.order_form([a]), desk.document)
    proposed = c.desk.disclosures.propose(desk.legal, order.id)
    c.desk.disclosures.approve(desk.legal2, proposed.id)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def export(who: Actor) -> None:
        barrier.wait()
        try:
            c.desk.disclosures.export(who, proposed.id)
            results.append("exported")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=export, args=(w,)) for w in (desk.legal, desk.legal2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["conflict", "exported"]
    assert notices(c) == 1
    assert sum(e.rule == Outcome.DISCLOSED for e in ledgered(c)) == 1
