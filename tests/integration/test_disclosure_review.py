"""Review findings on the disclosure desk (P5), on SQLite and PostgreSQL: the same data leaves
once per order even when two disclosures of it were proposed and approved side by side; no
allow stands alone when the master key is missing; lifting a deferred notice is a decision
of the gate, the worker's or the console operator's, refused for anyone else."""

from __future__ import annotations

from dataclasses import replace

import pytest

from entrusted.bootstrap import WORKER, build
from entrusted.bootstrap.disclosures import DISCLOSURE_LIFT_JOB
from entrusted.config import Settings
from entrusted.domain.disclosures import DisclosureStatus
from entrusted.domain.ids import IdKind
from entrusted.domain.policy import Actor, ActorKind
from entrusted.errors import Conflict, Unavailable
from entrusted.services.court_orders import RequestForm
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock, count_rows
from tests.integration import test_disclosures as base
from tests.integration.test_disclosures import Desk, ids, notices
from tests.integration.test_registry_sql import ledgered
from tests.refusals import default_denied

pytestmark = pytest.mark.promise("P5")

desk = base.desk  # the desk's fixture: three customers, two legal officers, a support member


def test_propose_refuses_data_already_in_a_pending_or_approved_disclosure(desk: Desk) -> None:
    c = desk.c
    a, b, _ = ids(desk)
    order = c.desk.orders.register_order(desk.legal, desk.order_form([a, b]), desk.document)
    first = c.desk.disclosures.propose(desk.legal, order.id, [a], ["contracts"])
    for state in ("pending", "approved"):
        with pytest.raises(Conflict, match=f"already in disclosure {first.id} \\({state}\\)"):
            c.desk.disclosures.propose(desk.legal, order.id, [a, b], ["contracts"])
        refusal = ledgered(c)[-1]
        assert (refusal.decision, refusal.rule, refusal.refs.get("court_order")) == (
            "deny", Outcome.DISCLOSURE_ALREADY_PROPOSED, order.id
        )
        if state == "pending":
            c.desk.disclosures.approve(desk.legal2, first.id)
    assert count_rows(c.engine, "disclosure") == 1
    # Another customer, or another category of the same one, is not the same data.
    assert c.desk.disclosures.propose(desk.legal, order.id, [b], ["contracts"]).id
    assert c.desk.disclosures.propose(desk.legal, order.id, [a], ["personal_details"]).id


def test_two_approved_disclosures_of_the_same_data_export_once(desk: Desk) -> None:
    c = desk.c
    a = ids(desk)[0]
    order = c.desk.orders.register_order(desk.legal, desk.order_form([a]), desk.document)
    d1 = c.desk.disclosures.propose(desk.legal, order.id)
    # D2 names the same customer and categories: as two proposals racing the check at
    # `propose`, or stored before it existed. Written straight to the table.
    d2 = replace(d1, id=c.desk.disclosures._p.ids(IdKind.DISCLOSURE.value))
    with c.desk.disclosures._p.uow() as uow:
        uow.disclosures.add(d2)
        uow.commit()
    for d in (d1, d2):
        c.desk.disclosures.approve(desk.legal2, d.id)
    c.desk.disclosures.export(desk.legal, d1.id)
    before = notices(c)
    with pytest.raises(Conflict, match=f"already left under court order {order.id}"):
        c.desk.disclosures.export(desk.legal, d2.id)
    refusal = ledgered(c)[-1]
    assert (refusal.decision, refusal.rule, refusal.action, refusal.resource_id) == (
        "deny", Outcome.DISCLOSURE_ALREADY_EXPORTED, "disclose", d2.id
    )
    assert notices(c) == before  # rolled back: no notice queued
    assert c.desk.disclosures.get(desk.legal, d2.id).status is DisclosureStatus.APPROVED
    assert sum(e.rule == Outcome.DISCLOSED for e in ledgered(c)) == 1


def test_a_missing_master_key_ledgers_no_allow(
    desk: Desk, settings: Settings, clock: FakeClock
) -> None:
    a = ids(desk)[0]
    key = settings.effective_master_key_file
    assert key.exists()
    key.unlink()
    c = build(settings, clock=clock)  # keys are loaded on first use: this one has none
    try:
        before = len(ledgered(c))
        with pytest.raises(Unavailable, match="keys cannot be loaded"):
            c.desk.orders.record_request(desk.legal, RequestForm("a", "b", "c", "d", [a]))
        with pytest.raises(Unavailable, match="keys cannot be loaded"):
            c.desk.orders.register_order(desk.legal, desk.order_form([a]), desk.document)
        with pytest.raises(Unavailable, match="keys cannot be loaded"):
            c.desk.orders.requests(desk.legal)
        assert len(ledgered(c)) == before  # nothing ledgered, no allow standing alone
        assert count_rows(c.engine, "court_order") == 0
        assert count_rows(c.engine, "third_party_request") == 0
    finally:
        c.close()


def test_lifting_a_deferred_notice_is_the_workers_or_operators_decision(desk: Desk) -> None:
    c = desk.c
    proposed, _ = desk.exported_with_notice_after(days=5)
    # Before the day, nothing is due; a refused caller is still refused (and learns nothing).
    with default_denied("legal to update disclosure", ledger=desk.last):
        c.desk.disclosures.lift_deferred(desk.legal)
    desk.clock.advance(days=5)
    for who, role in ((desk.legal, "legal"), (desk.support, "support")):
        with default_denied(f"{role} to update disclosure", ledger=desk.last):
            c.desk.disclosures.lift_deferred(who)
    assert notices(c) == 0  # a refusal lifts nothing
    operator = Actor(ActorKind.SERVICE, "cli:ops@host")
    assert c.desk.disclosures.lift_deferred(operator) == 1
    allow, lifted = ledgered(c)[-2:]
    assert (allow.decision, allow.rule, allow.resource_id, allow.actor_id) == (
        "allow", "worker-lifts-deferred-disclosure-notices", proposed.id, operator.id
    )
    assert lifted.rule == Outcome.DISCLOSURE_NOTICE_LIFTED
    assert notices(c) == 1
    assert c.desk.disclosures.lift_deferred(WORKER) == 0
    assert (ledgered(c)[-1].rule, ledgered(c)[-1].decision) == (
        "worker-lifts-deferred-disclosure-notices", "allow"
    )


def test_the_workers_round_writes_nothing_when_no_notice_is_due(desk: Desk) -> None:
    """Trial finding: the worker's round judged "nothing due" every outbox interval, an entry
    recording no change (~8,600 a day). Its round now writes only when a notice is lifted; a
    caller that asks (the operator's CLI, the console) is still judged either way."""
    c = desk.c
    (job,) = [j for j in c.jobs if j.name == DISCLOSURE_LIFT_JOB]
    desk.exported_with_notice_after(days=5)
    before = len(ledgered(c))
    assert job.run() is None  # nothing happened (the scheduler logs it at DEBUG only)
    assert len(ledgered(c)) == before  # deferred, not yet due: nothing decided, nothing written
    desk.clock.advance(days=5)
    assert job.run() == "1 deferred notice(s) lifted"
    allow, lifted = ledgered(c)[before:]
    assert (allow.rule, allow.decision, allow.actor_id) == (
        "worker-lifts-deferred-disclosure-notices", "allow", WORKER.id
    )
    assert lifted.rule == Outcome.DISCLOSURE_NOTICE_LIFTED
    assert notices(c) == 1
