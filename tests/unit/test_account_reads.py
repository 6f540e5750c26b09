"""What the portal's account pages read on in-memory twins (issue 18): the contracts a
customer holds (`ContractService.held_by`) and the new contact address still waiting for its
link (`ContactEmails.pending`). The holder alone gets either; anyone else is refused by default
deny, ledgered."""

from __future__ import annotations

import pytest

from entrusted.services.registry_forms import ServiceRequest
from tests.refusals import default_denied
from tests.unit.registry_world import SUPPORT, World, customer

pytestmark = pytest.mark.promise("P1", "P2")

NEW = "alice.new@example.net"


@pytest.fixture
def world() -> World:
    return World()


def test_the_holder_alone_lists_her_contracts_with_their_services(world: World) -> None:
    alice = world.register(services=(ServiceRequest("ftp_space", "backup-7"),))
    bob = world.register()
    (held,) = world.contracts.held_by(customer(alice), alice)
    assert [(s.kind.value, s.name) for s in held.services] == [("ftp_space", "backup-7")]
    assert world.ledger.entries[-1].decision == "allow"
    assert world.contracts.held_by(customer(bob), bob) == []
    with default_denied("customer to read contract", without="owns_resource", ledger=world.ledger):
        world.contracts.held_by(customer(bob), alice)
    with default_denied(
        "support to read contract", without="caller_identified", ledger=world.ledger
    ):
        world.contracts.held_by(SUPPORT, alice)


def test_the_pending_address_is_shown_to_its_customer_until_it_expires(world: World) -> None:
    alice = world.register()
    bob = world.register()
    assert world.registry.emails.pending(customer(alice), alice) is None
    world.registry.correct(customer(alice), alice, {"email": NEW})
    assert world.registry.emails.pending(customer(alice), alice) == NEW
    with default_denied(
        "customer to read personal_details", without="owns_resource", ledger=world.ledger
    ):
        world.registry.emails.pending(customer(bob), alice)
    world.clock.advance(days=2)
    assert world.registry.emails.pending(customer(alice), alice) is None
