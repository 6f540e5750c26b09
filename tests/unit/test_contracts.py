"""Contracts on in-memory twins: opening, cancellation (date recorded), and transfer: only
after the holder is identified, the old holder loses every right at once, the handover is
ledgered under both holders, bad transfers change nothing."""

from __future__ import annotations

import pytest

from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.registry import ContractStatus
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import ServiceRequest
from tests.refusals import default_denied, refused_by
from tests.unit.registry_world import SIGNUP, SUPPORT, SYSADMIN, World, customer

pytestmark = pytest.mark.promise("P1")

SERVICES = (
    ServiceRequest("mailbox", "shop@example.com"),
    ServiceRequest("ftp_space", "backup-7"),
    ServiceRequest("website", "www.example.com"),
)


@pytest.fixture
def world() -> World:
    return World()


def holder_with_contract(world: World) -> tuple[str, str]:
    alice = world.register(services=SERVICES)
    (contract,) = world.store.state.contracts.values()
    return alice, contract.id


def test_open_contract_for_self_or_by_signup_and_mailboxes_are_unique(world: World) -> None:
    alice = world.register()
    view = world.contracts.open(customer(alice), alice, (ServiceRequest("website", "a.example"),))
    assert view.holder_id == alice
    assert world.contracts.open(SIGNUP, alice, ()).status is ContractStatus.ACTIVE
    with default_denied(
        "customer to create contract", without="owns_resource", ledger=world.ledger
    ):
        world.contracts.open(customer("cus_other"), alice, ())
    with refused_by("registry.registrar-only", ledger=world.ledger):
        world.contracts.open(Actor(ActorKind.SERVICE, "ftp_server"), alice, ())
    world.contracts.open(SIGNUP, alice, (ServiceRequest("mailbox", "box@example.com"),))
    with pytest.raises(Conflict, match="already hosted"):
        world.contracts.open(SIGNUP, alice, (ServiceRequest("mailbox", "BOX@example.com"),))
    with pytest.raises(NotFound):
        world.contracts.open(SIGNUP, "cus_missing", ())


def test_cancellation_records_the_date_once(world: World) -> None:
    alice, contract = holder_with_contract(world)
    with default_denied(
        "support to update contract", without="caller_identified", ledger=world.ledger
    ):
        world.contracts.cancel(SUPPORT, contract)  # the holder was not identified
    world.clock.advance(days=3)
    view = world.contracts.cancel(customer(alice), contract)
    assert (view.status, view.cancelled_at) == (ContractStatus.CANCELLED, world.clock.now)
    with pytest.raises(Conflict, match="already cancelled"):
        world.contracts.cancel(customer(alice), contract)


def test_support_cancels_for_an_identified_holder(world: World) -> None:
    alice, contract = holder_with_contract(world)
    world.identify(SUPPORT, alice)
    assert world.contracts.cancel(SUPPORT, contract).status is ContractStatus.CANCELLED


def test_transfer_needs_an_identified_holder(world: World) -> None:
    alice, contract = holder_with_contract(world)
    bob = world.register()
    with default_denied(
        "support to transfer contract", without="caller_identified", ledger=world.ledger
    ):
        world.contracts.transfer(SUPPORT, contract, to_customer=bob)
    for who, label in ((customer(alice), "customer"), (SYSADMIN, "sysadmin")):
        with default_denied(f"{label} to transfer contract", ledger=world.ledger):
            world.contracts.transfer(who, contract, to_customer=bob)
    assert world.store.state.contracts[contract].holder_id == alice
    assert world.store.state.transfers == []


def test_transfer_moves_every_right_at_once(world: World) -> None:
    alice, contract = holder_with_contract(world)
    bob = world.register()
    world.identify(SUPPORT, alice)
    done = world.contracts.transfer(SUPPORT, contract, to_customer=bob)
    assert (done.transfer.from_customer, done.transfer.to_customer) == (alice, bob)
    assert not done.new_customer
    with default_denied("customer to read contract", without="owns_resource", ledger=world.ledger):
        world.contracts.get(customer(alice), contract)
    with default_denied(
        "customer to update contract", without="owns_resource", ledger=world.ledger
    ):
        world.contracts.cancel(customer(alice), contract)
    view = world.contracts.get(customer(bob), contract)
    assert [s.name for s in view.services] == ["shop@example.com", "backup-7", "www.example.com"]
    # Alice's summary no longer lists it, Bob's does.
    ticket = AccessContext(ticket="HD-7")
    assert world.registry.summary(SUPPORT, alice, ticket).contract_ids == ()
    assert world.registry.summary(SUPPORT, bob, ticket).contract_ids == (contract,)
    # The handover is in the ledger under both holders, and in each one's export.
    decision = next(e for e in world.ledger.entries if e.action == "transfer" and e.owner == alice)
    # The transfer record points at the decision; the handover came after the commit.
    assert world.ledger.entries[done.transfer.ledger_index] == decision
    handover = world.ledger.entries[done.handover_index]
    assert (decision.decision, decision.refs["note"]) == ("allow", f"to {bob}")
    assert (handover.owner, handover.rule, handover.refs["note"]) == (
        bob,
        "registry.contract-handed-over",
        f"from {alice}",
    )
    exported = world.registry.export_own(customer(bob), bob)
    assert [t["id"] for t in exported["transfers"]] == [done.transfer.id]


def test_identification_for_another_contract_does_not_count(world: World) -> None:
    alice, contract = holder_with_contract(world)
    other = world.contracts.open(SIGNUP, alice, ()).id
    bob = world.register()
    world.identify(SUPPORT, alice, contract_id=other)
    with default_denied(
        "support to transfer contract", without="caller_identified", ledger=world.ledger
    ):
        world.contracts.transfer(SUPPORT, contract, to_customer=bob)


def test_transfer_to_a_new_customer_registers_them(world: World) -> None:
    alice, contract = holder_with_contract(world)
    world.identify(SUPPORT, alice)
    newcomer = world.people.form()
    done = world.contracts.transfer(SUPPORT, contract, new_holder=newcomer)
    assert done.new_customer
    assert done.password_link_queued
    new_id = done.transfer.to_customer
    record = world.registry.details(customer(new_id), new_id)
    assert record.details.email == newcomer.email
    world.deliver()  # the link was queued with the transfer; the worker sends it
    assert world.mailer.sent[-1].to == newcomer.email
    assert world.contracts.get(customer(new_id), contract).holder_id == new_id


def test_bad_transfers_change_nothing(world: World) -> None:
    alice, contract = holder_with_contract(world)
    bob = world.register()
    world.identify(SUPPORT, alice)
    before = (dict(world.store.state.customers), dict(world.store.state.contracts))
    with pytest.raises(InvalidInput, match="already holds"):
        world.contracts.transfer(SUPPORT, contract, to_customer=alice)
    with pytest.raises(InvalidInput):
        world.contracts.transfer(SUPPORT, contract)
    with pytest.raises(InvalidInput):
        world.contracts.transfer(SUPPORT, contract, to_customer=bob, new_holder=world.people.form())
    with pytest.raises(NotFound):
        world.contracts.transfer(SUPPORT, contract, to_customer="cus_missing")
    with pytest.raises(NotFound):
        world.contracts.transfer(SUPPORT, "ctr_missing", to_customer=bob)
    taken = world.registry.details(customer(bob), bob).details.email
    twin = world.people.form()
    with pytest.raises(Conflict):
        world.contracts.transfer(
            SUPPORT, contract, new_holder=type(twin)(twin.last_name, twin.first_name, taken)
        )
    bad = world.people.form()
    with pytest.raises(InvalidInput) as info:
        world.contracts.transfer(
            SUPPORT, contract, new_holder=type(bad)(bad.last_name, bad.first_name, "nope")
        )
    assert info.value.field == "email"
    assert (dict(world.store.state.customers), dict(world.store.state.contracts)) == before
    assert world.store.state.transfers == []
    world.contracts.cancel(customer(alice), contract)
    with pytest.raises(Conflict, match="cancelled"):
        world.contracts.transfer(SUPPORT, contract, to_customer=bob)
    assert world.store.state.contracts[contract].holder_id == alice
