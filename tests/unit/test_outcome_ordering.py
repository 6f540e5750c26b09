"""An outcome is ledgered only after the change it reports committed (issue 10 item 2): with a
planted failing commit or a planted race, the decision before the effect is in the ledger
(fail closed) but no success outcome is, and nothing changed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.domain.registry import ContractStatus, IdentificationOutcome
from entrusted.errors import Conflict, Unavailable
from entrusted.services.memory_consent import InMemoryConsentUnitOfWork
from entrusted.services.memory_registry import InMemoryRegistryUnitOfWork
from tests.unit.consent_world import ConsentWorld
from tests.unit.registry_world import SUPPORT, World, customer

pytestmark = pytest.mark.promise("P3")

WHY = "The customer cannot log in to webmail; I need to check the mailbox."


def locked(self: object) -> None:
    raise Unavailable("database is locked")


def rules(world: World) -> list[str | None]:
    return [e.rule for e in world.ledger.entries]


def test_no_granted_outcome_when_the_grant_does_not_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = ConsentWorld()
    h = world.holder()
    case = world.cases.open(SUPPORT, h.contract_id, "Mail")
    req = world.consent.request(SUPPORT, case.id, h.mailbox, WHY)
    token = world.link_token()
    monkeypatch.setattr(InMemoryConsentUnitOfWork, "commit", locked)
    with pytest.raises(Unavailable):
        world.consent.approve(customer(h.customer_id), req.id, token)
    last = world.ledger.entries[-1]
    assert (last.action, last.decision) == ("approve", "allow")  # the decision stays
    assert "consent.granted" not in rules(world)
    assert world.consent_store.state.grants == {}
    monkeypatch.undo()
    grant = world.consent.approve(customer(h.customer_id), req.id, token)
    granted = world.ledger.entries[-1]
    assert (granted.rule, granted.refs["grant"]) == ("consent.granted", grant.id)


def test_no_identification_outcome_when_the_update_does_not_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    alice = world.register()
    started = world.identification.start(SUPPORT, alice, "email_code")
    monkeypatch.setattr(InMemoryRegistryUnitOfWork, "commit", locked)
    with pytest.raises(Unavailable):
        world.identification.verify(SUPPORT, started.id, world.last_code())
    assert world.ledger.entries[-1].action == "identify"
    assert world.ledger.entries[-1].rule != "registry.identification"
    assert "registry.identification" not in rules(world)
    ident, _ = world.store.state.identifications[started.id]
    assert (ident.outcome, ident.attempts) == (IdentificationOutcome.PENDING, 0)


def test_no_handover_outcome_when_the_transfer_meets_a_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancellation commits between the gate's decision and the transfer's unit of work:
    the transfer raises Conflict, and the ledger must not say the contract was handed over."""
    world = World()
    alice = world.register(services=())
    contract = world.contracts.open(customer(alice), alice, ()).id
    bob = world.register()
    world.identify(SUPPORT, alice)
    append_many = world.ledger.append_many

    def race(entries: Sequence[AuditEntry]) -> list[Receipt]:
        receipts = append_many(entries)
        if any(e.action == "transfer" and e.decision == "allow" for e in entries):
            with world.store.unit_of_work() as uow:
                uow.contracts.cancel(contract, world.clock())
                uow.commit()
        return receipts

    monkeypatch.setattr(world.ledger, "append_many", race)
    with pytest.raises(Conflict, match="changed meanwhile"):
        world.contracts.transfer(SUPPORT, contract, to_customer=bob)
    assert (world.ledger.entries[-1].action, world.ledger.entries[-1].decision) == (
        "transfer",
        "allow",
    )
    assert "registry.contract-handed-over" not in rules(world)
    stored = world.store.state.contracts[contract]
    assert (stored.holder_id, stored.status) == (alice, ContractStatus.CANCELLED)


def test_the_handover_is_ledgered_after_the_transfer_committed() -> None:
    world = World()
    alice = world.register(services=())
    contract = world.contracts.open(customer(alice), alice, ()).id
    bob = world.register()
    world.identify(SUPPORT, alice)
    done = world.contracts.transfer(SUPPORT, contract, to_customer=bob)
    decision = world.ledger.entries[done.transfer.ledger_index]
    handover = world.ledger.entries[done.handover_index]
    assert (decision.action, decision.decision, decision.owner) == ("transfer", "allow", alice)
    assert (handover.rule, handover.owner) == ("registry.contract-handed-over", bob)
    assert done.transfer.ledger_index < done.handover_index
