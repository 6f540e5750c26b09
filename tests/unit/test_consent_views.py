"""What the portal's consent pages read (P10, P11): a request and a grant in words (the
service by name, the staff member by display name), and the customer's own active grants:
one ledgered decision for the list, nobody else's grants, none that ended."""

from __future__ import annotations

import pytest

from entrusted.domain.cases import RequestStatus
from tests.refusals import default_denied
from tests.unit.consent_world import ConsentWorld, Holder
from tests.unit.registry_world import SUPPORT, customer

pytestmark = pytest.mark.promise("P10", "P11")

WHY = "The customer reports IMAP is slow; I need to look at the folders."


@pytest.fixture
def world() -> ConsentWorld:
    return ConsentWorld()


def approved(world: ConsentWorld, h: Holder, subject: str = "Mail is slow") -> str:
    case = world.cases.open(SUPPORT, h.contract_id, subject)
    req = world.consent.request(SUPPORT, case.id, h.mailbox, WHY, read_only=True)
    return world.consent.approve(customer(h.customer_id), req.id, world.link_token()).id


def test_a_request_in_words(world: ConsentWorld) -> None:
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Mail is slow")
    req = world.consent.request(SUPPORT, case.id, h.mailbox, WHY)
    view = world.consent.request_view(customer(h.customer_id), req.id)
    assert (view.staff_name, view.case_subject, view.service_kind) == (
        "Sam Support", "Mail is slow", "mailbox",
    )  # fmt: skip
    assert view.service_name.startswith("box")
    assert view.pending
    assert view.grant_until == world.clock.now + world.limits.grant_max_duration
    other = world.holder()
    with default_denied("customer to read case", without="owns_resource", ledger=world.ledger):
        world.consent.request_view(customer(other.customer_id), req.id)
    world.clock.advance(seconds=world.limits.request_ttl.total_seconds())
    assert world.consent.request_view(customer(h.customer_id), req.id).state is (
        RequestStatus.EXPIRED
    )


def test_a_customer_lists_only_their_own_active_grants(world: ConsentWorld) -> None:
    h, other = world.holder(), world.holder()
    first = approved(world, h)
    second = approved(world, h, "Another question")
    approved(world, other)
    world.clock.advance(minutes=1)
    world.grants.revoke(customer(h.customer_id), first)
    listed = world.grants.active_for_customer(customer(h.customer_id))
    assert [v.grant.id for v in listed] == [second]
    assert (listed[0].staff_name, listed[0].case_subject) == ("Sam Support", "Another question")
    assert listed[0].active
    entry = world.ledger.entries[-1]
    assert (entry.decision, entry.action, entry.resource_id) == (
        "allow", "read", f"customer/{h.customer_id}",
    )  # fmt: skip
    assert [v.grant.customer_id for v in world.grants.active_for_customer(
        customer(other.customer_id))] == [other.customer_id]  # fmt: skip
    with default_denied("support to read grant", ledger=world.ledger):
        world.grants.active_for_customer(SUPPORT)
