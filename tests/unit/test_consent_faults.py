"""Bad input and faults (issue 6), in memory: each is refused, ledgered, and grants nothing.
Also verbal consent: only after a fresh identification by the recording agent, with a
receipt whose "this was not me" ends the grant and flags the case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from entrusted.domain.cases import GrantEnd, GrantOrigin
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import AuthenticationFailed, Conflict, InvalidInput, Refused, Unavailable
from entrusted.services.gate import AccessContext
from tests.refusals import refused_by
from tests.unit.consent_world import ConsentWorld
from tests.unit.registry_world import (
    LEGAL,
    OFFICE,
    SIGNUP,
    SUPPORT,
    SUPPORT2,
    SYSADMIN,
    customer,
)

pytestmark = pytest.mark.promise("P9", "P11")

WHY = "The customer cannot log in to webmail; I need to check the mailbox."


@pytest.fixture
def world() -> ConsentWorld:
    return ConsentWorld()


def grants_in(world: ConsentWorld) -> int:
    return len(world.consent_store.state.grants)


def refused(world: ConsentWorld, step: Callable[[], object], rule: str | None) -> None:
    """The step is refused with `rule`, the refusal is the last ledger entry, nothing granted."""
    before = grants_in(world)
    with pytest.raises(Refused) as caught:
        step()
    assert caught.value.decision.rule_id == rule
    last = world.ledger.entries[-1]
    assert (last.decision, last.rule) == ("deny", rule)
    assert grants_in(world) == before


def test_requests_outside_the_case_contract(world: ConsentWorld) -> None:
    mine, theirs = world.holder(), world.holder()
    second_contract = world.contracts.open(SIGNUP, mine.customer_id, [])
    case = world.cases.open(SUPPORT, mine.contract_id, "Mail")
    other = world.cases.open(SUPPORT, second_contract.id, "Other contract")
    rule = "consent.resource-not-in-contract"
    refused(world, lambda: world.consent.request(SUPPORT, case.id, theirs.mailbox, WHY), rule)
    refused(world, lambda: world.consent.request(SUPPORT, other.id, mine.mailbox, WHY), rule)
    refused(world, lambda: world.consent.request(SUPPORT, case.id, "svc_nope", WHY), rule)
    with pytest.raises(InvalidInput):
        world.consent.request(SUPPORT, case.id, mine.website, WHY)  # websites are public
    with pytest.raises(InvalidInput):
        world.consent.request(SUPPORT, case.id, mine.mailbox, "short")
    refused(world, lambda: world.consent.request(LEGAL, case.id, mine.mailbox, WHY), None)
    refused(world, lambda: world.consent.request(OFFICE, case.id, mine.mailbox, WHY), None)
    assert world.consent_store.state.requests == {}


def test_approval_by_anyone_but_the_holder(world: ConsentWorld) -> None:
    h, stranger = world.holder(), world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Mail")
    req = world.consent.request(SUPPORT, case.id, h.mailbox, WHY)
    token = world.link_token()
    for who in (customer(stranger.customer_id), SUPPORT, SYSADMIN, world.worker):
        refused(world, lambda who=who: world.consent.approve(who, req.id, token), None)
    refused(
        world,
        lambda: world.consent.approve(customer(h.customer_id), req.id, "enta_forged"),
        "consent.link-invalid",
    )
    grant = world.consent.approve(customer(h.customer_id), req.id, token)
    assert grant.origin is GrantOrigin.REQUEST


def test_replayed_link_and_late_approvals(world: ConsentWorld) -> None:
    h = world.holder()
    me = customer(h.customer_id)
    case = world.cases.open(SUPPORT, h.contract_id, "Mail")
    req = world.consent.request(SUPPORT, case.id, h.mailbox, WHY)
    token = world.link_token()
    world.consent.approve(me, req.id, token)
    refused(world, lambda: world.consent.approve(me, req.id, token), "consent.link-spent")

    late = world.consent.request(SUPPORT, case.id, h.ftp, WHY)
    late_token = world.link_token()
    world.clock.advance(hours=12)
    refused(
        world, lambda: world.consent.approve(me, late.id, late_token), "consent.request-expired"
    )

    after = world.consent.request(SUPPORT, case.id, h.ftp, WHY)
    after_token = world.link_token()
    world.cases.resolve(SUPPORT, case.id)
    refused(
        world, lambda: world.consent.approve(me, after.id, after_token), "consent.request-withdrawn"
    )
    refused(
        world,
        lambda: world.consent.request(SUPPORT, case.id, h.mailbox, WHY),
        "consent.case-resolved",
    )


def test_a_grant_used_by_another_agent(world: ConsentWorld) -> None:
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Mail")
    req = world.consent.request(SUPPORT, case.id, h.mailbox, WHY)
    grant = world.consent.approve(customer(h.customer_id), req.id, world.link_token())
    for agent in (SUPPORT2, SYSADMIN, LEGAL):
        refused(
            world, lambda agent=agent: world.grants.use(agent, grant.id), "consent.not-the-grantee"
        )
    box = Resource(ResourceKind.MAILBOX_CONTENT, h.mailbox, owner=h.customer_id)
    with pytest.raises(Refused) as other:
        world.gate.decide(SUPPORT2, Action.READ, box, AccessContext(case.id, grant.id))
    assert other.value.decision.rule_id == "mailbox-closed-to-staff"
    assert world.grants.use(SUPPORT, grant.id).grant.sessions_used == 1
    use_after = world.consent_store.state.grants[grant.id]
    assert use_after.sessions_used == 1  # the refused agents consumed nothing


# --- verbal consent --------------------------------------------------------------------------


def test_verbal_consent_after_fresh_identification(world: ConsentWorld) -> None:
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Backup restore, customer on the phone")
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    consent, grant = world.verbal.record(SUPPORT, case.id, h.ftp, read_back=True)
    assert grant.origin is GrantOrigin.VERBAL
    assert grant.approved_by == h.customer_id
    assert grant.staff_id == SUPPORT.id == consent.staff_id
    assert consent.identification_method == "email_code"
    assert consent.recorded_at == world.clock.now
    assert h.ftp in consent.scope
    assert "space backup" not in consent.scope  # the stored scope names the space by id only
    receipt = world.mailer.sent[-1]
    assert receipt.subject == "Receipt: you allowed support into your FTP backup space"
    assert "your FTP backup space backup" in receipt.body
    assert "/not-me#token=entn_" in receipt.body
    space = Resource(ResourceKind.FTP_SPACE, h.ftp, owner=h.customer_id)
    world.gate.decide(SUPPORT, Action.ENTER, space, AccessContext(case_id=case.id))
    view = world.cases.get(SUPPORT, case.id)
    assert [i.id for i in view.identifications] == [consent.identification_id]
    assert view.consents == (consent,)


def test_verbal_consent_without_fresh_identification(world: ConsentWorld) -> None:
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Phone call")

    def record(agent: Actor = SUPPORT, case_id: str = case.id) -> object:
        return world.verbal.record(agent, case_id, h.mailbox, read_back=True)

    refused(world, record, None)  # nobody identified the caller
    world.identify(SUPPORT2, h.customer_id, case_id=case.id)
    refused(world, record, None)  # another agent identified them
    other = world.cases.open(SUPPORT, h.contract_id, "Another call")
    world.identify(SUPPORT, h.customer_id, case_id=other.id)
    refused(world, record, None)  # identified on another case
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    world.clock.advance(minutes=61)
    refused(world, record, None)  # too long ago
    with pytest.raises(InvalidInput):  # nobody else can be identified on this case
        world.identify(SUPPORT, world.holder().customer_id, case_id=case.id)
    assert world.ledger.entries[-1].rule == "registry.identification-case-refused"
    refused(world, record, None)
    with pytest.raises(InvalidInput):
        world.verbal.record(SUPPORT, case.id, h.mailbox, read_back=False)
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    _, grant = world.verbal.record(SUPPORT, case.id, h.mailbox, read_back=True, read_only=True)
    assert grant.read_only


def test_not_me_ends_the_grant_and_flags_the_case(world: ConsentWorld) -> None:
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Phone call")
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    _, grant = world.verbal.record(SUPPORT, case.id, h.mailbox, read_back=True)
    token = world.link_token()
    ended = world.verbal.not_me(token)
    last = world.ledger.entries[-1]
    assert ended.end_reason is GrantEnd.NOT_ME
    assert ended.ended_by == h.customer_id
    flagged = world.cases.get(SUPPORT, case.id).case
    assert flagged.flagged_at == world.clock.now
    assert flagged.flag_reason is not None
    assert (last.actor_id, last.rule, last.refs["grant"]) == (
        h.customer_id,
        "consent.grant-ended",
        grant.id,
    )
    with refused_by("mailbox-closed-to-staff", ledger=world.ledger):
        world.grants.use(SUPPORT, grant.id)
    with pytest.raises(Conflict):
        world.verbal.not_me(token)
    with pytest.raises(AuthenticationFailed):
        world.verbal.not_me("entn_made-up")
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    refused(
        world,
        lambda: world.verbal.record(SUPPORT, case.id, h.ftp, read_back=True),
        "consent.case-flagged",
    )


def test_nothing_is_granted_when_the_receipt_cannot_be_sent(world: ConsentWorld) -> None:
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Phone call")
    world.identify(SUPPORT, h.customer_id, case_id=case.id)
    world.mailer.fail = True
    # The relay is down: a clear Unavailable (503), the refusal ledgered, nothing stored.
    for step, rule in [
        (
            lambda: world.verbal.record(SUPPORT, case.id, h.mailbox, read_back=True),
            "consent.receipt-undeliverable",
        ),
        (lambda: world.consent.request(SUPPORT, case.id, h.mailbox, WHY), "consent.request"),
    ]:
        with pytest.raises(Unavailable, match="mail relay unavailable"):
            step()
        last = world.ledger.entries[-1]
        assert (last.decision, last.rule) == ("deny", rule)
    assert world.consent_store.state.consents == {}
    assert world.consent_store.state.requests == {}
