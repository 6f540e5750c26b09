"""Cases, access requests and grants, in memory: the request -> approve -> use -> end path,
what the customer is told, and every way a grant ends (P9, P10, P11)."""

from __future__ import annotations

import pytest

from entrusted.domain.cases import CaseStatus, GrantEnd, RequestStatus
from entrusted.domain.outbox import Topic
from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.errors import Conflict, InvalidInput, Refused
from entrusted.services.gate import AccessContext
from tests.refusals import default_denied, refused_by
from tests.unit.consent_world import ConsentWorld, Holder
from tests.unit.registry_world import SUPPORT, SUPPORT2, SYSADMIN, customer

pytestmark = pytest.mark.promise("P9", "P10", "P11")

WHY = "The customer reports IMAP is slow; I need to look at the folders."


@pytest.fixture
def world() -> ConsentWorld:
    return ConsentWorld()


@pytest.fixture
def holder(world: ConsentWorld) -> Holder:
    return world.holder()


def mailbox(h: Holder) -> Resource:
    return Resource(ResourceKind.MAILBOX_CONTENT, h.mailbox, owner=h.customer_id)


def can_read(world: ConsentWorld, staff: object, h: Holder, case_id: str) -> bool:
    try:
        world.gate.decide(staff, Action.READ, mailbox(h), AccessContext(case_id=case_id))  # type: ignore[arg-type]
    except Refused:
        return False
    return True


def approved(world: ConsentWorld, h: Holder, case_id: str, **kwargs: object) -> str:
    req = world.consent.request(SUPPORT, case_id, h.mailbox, WHY, **kwargs)  # type: ignore[arg-type]
    return world.consent.approve(customer(h.customer_id), req.id, world.link_token()).id


def test_request_approve_use_and_end(world: ConsentWorld, holder: Holder) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Mail is slow since Monday")
    assert not can_read(world, SUPPORT, holder, case.id)
    req = world.consent.request(SUPPORT, case.id, holder.mailbox, WHY, read_only=True)
    assert req.status is RequestStatus.PENDING
    assert req.expires_at == world.clock.now + world.limits.request_ttl
    mail = world.mailer.sent[-1]
    assert "read-only access to your mailbox box" in mail.body
    assert WHY in mail.body
    assert f"/access-requests/{req.id}#token=enta_" in mail.body
    assert not can_read(world, SUPPORT, holder, case.id)  # asking is not consent

    grant = world.consent.approve(customer(holder.customer_id), req.id, world.link_token())
    assert grant.approved_by == holder.customer_id  # the human approver, never a service
    assert (grant.staff_id, grant.service_id, grant.case_id) == (
        SUPPORT.id,
        holder.mailbox,
        case.id,
    )
    assert grant.read_only
    assert grant.max_sessions == 1
    assert grant.expires_at == world.clock.now + world.limits.grant_max_duration
    assert can_read(world, SUPPORT, holder, case.id)
    assert not can_read(world, SUPPORT2, holder, case.id)  # exactly this staff member
    other_case = world.cases.open(SUPPORT, holder.contract_id, "Another question")
    assert not can_read(world, SUPPORT, holder, other_case.id)  # exactly this case

    use = world.grants.use(SUPPORT, grant.id)
    assert use.grant.sessions_used == 1
    assert use.grant.first_used_at == world.clock.now
    assert can_read(world, SUPPORT, holder, case.id)  # the open session may continue
    with pytest.raises(Refused) as second:
        world.grants.use(SUPPORT, grant.id)
    assert second.value.decision.rule_id == "consent.sessions-spent"

    ended = world.grants.end_session(SUPPORT, use.session.id)
    assert ended.end_reason is GrantEnd.USED
    assert not can_read(world, SUPPORT, holder, case.id)
    assert [g.id for g in world.ended] == [grant.id]
    subjects = world.mails_to(holder.customer_id)
    assert subjects[-4:] == [
        "Support asks to access your mailbox",
        "You allowed support into your mailbox",
        "Support is now in your mailbox",
        "Support's access to your mailbox has ended",
    ]


def test_the_ledger_names_every_step_and_the_approver(world: ConsentWorld, holder: Holder) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Mail is slow")
    grant_id = approved(world, holder, case.id)
    world.grants.use(SUPPORT, grant_id)
    world.cases.resolve(SUPPORT, case.id)
    mine = [e for e in world.ledger.entries if e.refs.get("case") == case.id]
    steps = [(e.actor_id, e.action, e.resource_kind, e.decision, e.rule) for e in mine]
    assert (SUPPORT.id, "create", "case", "allow", "staff-handle-support-cases") in steps
    assert (SUPPORT.id, "update", "case", "allow", "staff-handle-support-cases") in steps
    customer_id = holder.customer_id
    assert (customer_id, "approve", "grant", "allow", "customer-manages-own-consent") in steps
    assert (customer_id, "approve", "grant", "allow", "consent.granted") in steps
    assert (SUPPORT.id, "read", "mailbox_content", "allow", "staff-read-mail-under-grant") in steps
    assert (SUPPORT.id, "resolve", "case", "allow", "staff-handle-support-cases") in steps
    assert (SUPPORT.id, "delete", "grant", "allow", "consent.grant-ended") in steps
    assert all(e.owner == customer_id for e in mine)


def test_resolution_ends_every_grant_and_sends_a_summary(
    world: ConsentWorld, holder: Holder
) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Backups missing")
    grant_id = approved(world, holder, case.id, sessions=2)
    world.grants.use(SUPPORT, grant_id)
    pending = world.consent.request(SUPPORT, case.id, holder.ftp, WHY)
    resolved = world.cases.resolve(SUPPORT, case.id)
    assert resolved.status is CaseStatus.RESOLVED
    assert resolved.resolved_by == SUPPORT.id
    assert not can_read(world, SUPPORT, holder, case.id)
    view = world.cases.get(SUPPORT, case.id)
    assert view.grants[0].end_reason is GrantEnd.CASE_RESOLVED
    assert {r.id: r.status for r in view.requests}[pending.id] is RequestStatus.WITHDRAWN
    # Queued with the resolution, in its transaction; the worker's outbox job sends it.
    queued = world.consent_store.state.outbox.values()
    assert (Topic.CLOSING_SUMMARY, case.id) in {(m.topic, m.ref) for m in queued}
    assert world.deliver().failed == 0
    summary = world.mailer.sent[-1]
    assert summary.subject == f"Case {case.id} resolved: what was accessed"
    assert "Sam Support read box" in summary.body  # staff by display name, never an id
    assert SUPPORT.id not in summary.body
    assert grant_id in summary.body
    with refused_by("mailbox-closed-to-staff", ledger=world.ledger):
        world.grants.use(SUPPORT, grant_id)
    with pytest.raises(Conflict):
        world.cases.resolve(SUPPORT, case.id)


def test_a_reopened_case_is_a_new_scope(world: ConsentWorld, holder: Holder) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Mail is slow")
    approved(world, holder, case.id)
    world.cases.resolve(SUPPORT, case.id)
    again = world.cases.reopen(SUPPORT, case.id)
    assert again.id != case.id
    assert again.reopened_from == case.id
    assert again.open
    assert world.cases.get(SUPPORT, again.id).grants == ()
    assert not can_read(world, SUPPORT, holder, again.id)
    assert not can_read(world, SUPPORT, holder, case.id)
    with pytest.raises(Conflict):
        world.cases.reopen(SUPPORT, again.id)  # still open


def test_customer_revokes_and_backstop_and_job(world: ConsentWorld, holder: Holder) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Mail is slow")
    first = approved(world, holder, case.id)
    revoked = world.grants.revoke(customer(holder.customer_id), first)
    assert revoked.end_reason is GrantEnd.REVOKED
    assert not can_read(world, SUPPORT, holder, case.id)
    with default_denied("customer to delete grant", without="owns_resource", ledger=world.ledger):
        world.grants.revoke(customer(world.holder().customer_id), first)  # not theirs

    second = approved(world, holder, case.id)
    world.clock.advance(hours=8)
    assert not can_read(world, SUPPORT, holder, case.id)  # before any job runs
    with refused_by("mailbox-closed-to-staff", ledger=world.ledger):
        world.grants.use(SUPPORT, second)
    unanswered = world.consent.request(SUPPORT, case.id, holder.ftp, WHY)
    world.clock.advance(hours=12)
    with default_denied("support to delete grant", ledger=world.ledger):
        world.consent.expire(SUPPORT)  # only a service runs the job
    report = world.consent.expire(world.worker)
    assert (report.requests, report.grants) == (1, 1)
    view = world.cases.get(SUPPORT, case.id)
    assert {g.id: g.end_reason for g in view.grants}[second] is GrantEnd.EXPIRED
    assert {r.id: r.status for r in view.requests}[unanswered.id] is RequestStatus.EXPIRED
    assert world.consent.expire(world.worker).grants == 0


def test_transfer_and_cancellation_end_grants_at_once(world: ConsentWorld) -> None:
    h = world.holder()
    other = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Moving the contract")
    grant_id = approved(world, h, case.id)
    pending = world.consent.request(SUPPORT, case.id, h.ftp, WHY)
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    world.contracts.transfer(
        SUPPORT, h.contract_id, to_customer=other.customer_id, context=AccessContext(case.id)
    )
    assert not can_read(world, SUPPORT, h, case.id)
    view = world.cases.get(SUPPORT, case.id)
    assert view.grants[0].end_reason is GrantEnd.TRANSFERRED
    assert grant_id in [g.id for g in world.ended]
    assert {r.id: r.status for r in view.requests}[pending.id] is RequestStatus.WITHDRAWN
    with pytest.raises(Refused) as stale:
        world.consent.request(SUPPORT, case.id, h.mailbox, WHY)
    assert stale.value.decision.rule_id == "consent.contract-changed-hands"

    case2 = world.cases.open(SUPPORT, other.contract_id, "Closing down")
    grant2 = approved(world, other, case2.id)
    world.contracts.cancel(customer(other.customer_id), other.contract_id)
    assert world.cases.get(SUPPORT, case2.id).grants[0].end_reason is GrantEnd.CANCELLED
    with refused_by("mailbox-closed-to-staff", ledger=world.ledger):
        world.grants.use(SUPPORT, grant2)


def test_several_sessions_when_asked(world: ConsentWorld, holder: Holder) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Thunderbird opens 3 connections")
    grant_id = approved(world, holder, case.id, sessions=3)
    uses = [world.grants.use(SUPPORT, grant_id) for _ in range(3)]
    with refused_by("consent.sessions-spent", ledger=world.ledger):
        world.grants.use(SUPPORT, grant_id)
    for u in uses[:2]:
        assert world.grants.end_session(SUPPORT, u.session.id).ended_at is None
    assert world.grants.end_session(SUPPORT, uses[2].session.id).end_reason is GrantEnd.USED
    used_mails = [s for s in world.mails_to(holder.customer_id) if s.startswith("Support is now")]
    assert len(used_mails) == 1  # told of the first session only
    with pytest.raises(InvalidInput):
        world.consent.request(SUPPORT, case.id, holder.mailbox, WHY, sessions=4)
    with pytest.raises(Conflict):
        world.grants.end_session(SUPPORT, uses[0].session.id)


def test_customer_opens_a_case_and_denies(world: ConsentWorld, holder: Holder) -> None:
    me = customer(holder.customer_id)
    case = world.cases.open(me, holder.contract_id, "My FTP upload fails")
    assert case.opened_by == holder.customer_id
    assert [c.id for c in world.cases.find(me)] == [case.id]
    req = world.consent.request(SYSADMIN, case.id, holder.ftp, WHY)
    denied = world.consent.deny(me, req.id)
    assert denied.status is RequestStatus.DENIED
    assert denied.answered_by == holder.customer_id
    with pytest.raises(Refused) as spent:
        world.consent.approve(me, req.id, world.link_token())
    assert spent.value.decision.rule_id == "consent.link-spent"
    assert world.cases.get(me, case.id).grants == ()
    with default_denied("customer to create case", without="owns_resource", ledger=world.ledger):
        world.cases.open(me, world.holder().contract_id, "Not my contract")


def test_ftp_grant_opens_the_space_for_enter(world: ConsentWorld, holder: Holder) -> None:
    case = world.cases.open(SUPPORT, holder.contract_id, "Restore a file")
    req = world.consent.request(SYSADMIN, case.id, holder.ftp, WHY)
    grant = world.consent.approve(customer(holder.customer_id), req.id, world.link_token())
    space = Resource(ResourceKind.FTP_SPACE, holder.ftp, owner=holder.customer_id)
    use = world.grants.use(SYSADMIN, grant.id)
    assert use.grant.action is Action.ENTER
    world.gate.decide(SYSADMIN, Action.ENTER, space, AccessContext(case_id=case.id))
    with default_denied("sysadmin to delete ftp_space", ledger=world.ledger):
        world.gate.decide(SYSADMIN, Action.DELETE, space, AccessContext(case_id=case.id))
