"""Contracts (P1): opening, reading, cancelling, and transfer from one holder to another.

A contract's owner, for the gate, is its current holder, read from the database on every
request. A transfer changes the holder in one transaction, so the old holder loses every
right on the contract at once (their next request names another owner and is refused), and
the names of its hosted services are re-encrypted under the new holder's data key (and its
FTP spaces' passwords, the old holder's, are cleared in the same transaction). Support
may read, cancel or transfer a contract only once its holder was identified (the rules'
`caller_identified`, see `services/identification.py`). The handover is ledgered twice: the
gate's decision, before anything changes, is filed under the old holder (the transfer record
points at it); the handover itself, only once the transfer committed, under the new one (its
index is `TransferResult.handover_index`), so each finds it in their own ledger entries.

```python
contracts.transfer(support, "ctr_1", to_customer="cus_2")   # after identifying the holder
contracts.cancel(customer, "ctr_1")                         # the date is recorded
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from entrusted.crypto.personal import (
    data_key,
    move_service,
    open_contract,
    seal_customer,
    seal_service,
)
from entrusted.domain.policy import Action, Actor, ActorKind, Resource
from entrusted.domain.policy import ResourceKind as Kind
from entrusted.domain.registry import (
    ContractStatus,
    ContractView,
    CustomerStatus,
    StoredContract,
    Transfer,
)
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.customer_auth import CustomerAuthService
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.registry import (
    DUPLICATE_EMAIL,
    RegistryParts,
    load_customer,
    personal,
    require_registrar,
)
from entrusted.services.registry_forms import (
    Registration,
    ServiceRequest,
    validate_details,
    validate_services,
)

# Called after a transfer or a cancellation commits, with (actor, contract id, "transferred"
# or "cancelled"): consent ends there at once (services/consent.py).
ContractHook = Callable[[Actor, str, str], None]


@dataclass(frozen=True, slots=True)
class TransferResult:
    transfer: Transfer
    contract: ContractView
    new_customer: bool
    password_link_queued: bool  # in the outbox, with the transfer; the worker sends it
    handover_index: int  # the handover outcome, filed under the new holder


def contract_resource(contract: StoredContract) -> Resource:
    return Resource(Kind.CONTRACT, contract.id, owner=contract.holder_id)


class ContractService:
    def __init__(self, parts: RegistryParts, links: CustomerAuthService) -> None:
        self._p = parts
        self._links = links
        self.after_change: list[ContractHook] = []

    def _load(self, contract_id: str) -> StoredContract:
        with self._p.read() as uow:
            found = uow.contracts.get(contract_id)
        if found is None:
            raise NotFound("contract", contract_id)
        return found

    def _view(self, contract_id: str) -> ContractView:
        with self._p.read() as uow:
            contract = uow.contracts.get(contract_id)
            assert contract is not None
            holder = load_customer(uow, contract.holder_id)
        return open_contract(self._p.keys(), holder, contract)

    def open(
        self, actor: Actor, holder_id: str, services: Sequence[ServiceRequest]
    ) -> ContractView:
        """A new contract for `holder_id` with its hosted services: by the signup site, an
        operator, or the customer themselves."""
        p = self._p
        wanted = validate_services(p.contacts, services)
        contract_id = p.ids("ctr")
        resource = Resource(Kind.CONTRACT, contract_id, owner=holder_id)
        if actor.kind is ActorKind.SERVICE:
            require_registrar(p.gate, actor, resource)
        p.gate.decide(actor, Action.CREATE, resource)
        keys = p.keys()
        with p.uow() as uow:
            holder = load_customer(uow, holder_id)
            dek = data_key(keys, holder)
            stored = tuple(
                seal_service(keys, dek, holder_id, p.ids("svc"), contract_id, kind, name)
                for kind, name in wanted
            )
            uow.contracts.add(
                StoredContract(
                    contract_id, holder_id, ContractStatus.ACTIVE, p.clock(), None, stored
                )
            )
            uow.commit()
        return self._view(contract_id)

    def get(
        self, actor: Actor, contract_id: str, context: AccessContext | None = None
    ) -> ContractView:
        contract = self._load(contract_id)
        self._p.gate.decide(actor, Action.READ, contract_resource(contract), context)
        return self._view(contract_id)

    def held_by(self, actor: Actor, holder_id: str) -> list[ContractView]:
        """The contracts `holder_id` holds, hosted services in clear (the portal's "my
        contracts"): one decision for the list, on the holder as owner, so only the holder
        (`customer-reads-own-details`) gets it and anyone else's attempt is ledgered."""
        resource = Resource(Kind.CONTRACT, "own-contracts", owner=holder_id)
        self._p.gate.decide(actor, Action.READ, resource, AccessContext(note="own contracts"))
        with self._p.read() as uow:
            holder = load_customer(uow, holder_id)
            held = uow.contracts.for_holder(holder_id)
        keys = self._p.keys()
        return [open_contract(keys, holder, contract) for contract in held]

    def cancel(
        self, actor: Actor, contract_id: str, context: AccessContext | None = None
    ) -> ContractView:
        """Cancel a contract, recording the date (its backups still expire on schedule)."""
        contract = self._load(contract_id)
        self._p.gate.decide(actor, Action.UPDATE, contract_resource(contract), context)
        with self._p.uow() as uow:
            current = uow.contracts.get(contract_id)
            if current is None or current.holder_id != contract.holder_id:
                raise Conflict(f"contract {contract_id} changed holder meanwhile; ask again")
            if current.status is ContractStatus.CANCELLED:
                raise Conflict(f"contract {contract_id} is already cancelled")
            uow.contracts.cancel(contract_id, self._p.clock())
            uow.commit()
        for hook in self.after_change:
            hook(actor, contract_id, "cancelled")
        return self._view(contract_id)

    def transfer(
        self,
        actor: Actor,
        contract_id: str,
        *,
        to_customer: str | None = None,
        new_holder: Registration | None = None,
        context: AccessContext | None = None,
    ) -> TransferResult:
        """Hand a contract to an existing customer or to a new one registered on the spot.

        Refused unless the rules allow `transfer` (support, once the holder is identified).
        A cancelled contract, or a transfer to its own holder, is a clear error and changes
        nothing; only the gate's record of the request is in the ledger.
        """
        p = self._p
        if (to_customer is None) == (new_holder is None):
            raise InvalidInput("to_customer", "give either an existing customer or a new holder")
        details = None if new_holder is None else validate_details(p.contacts, new_holder)
        contract = self._load(contract_id)
        old = contract.holder_id
        new_id = to_customer or p.ids("cus")
        base = context or AccessContext()
        ctx = AccessContext(base.case_id, base.grant_id, base.court_order_id, note=f"to {new_id}")
        decided = p.gate.decide(actor, Action.TRANSFER, contract_resource(contract), ctx)
        if contract.status is ContractStatus.CANCELLED:
            raise Conflict(f"contract {contract_id} is cancelled and cannot be transferred")
        if new_id == old:
            raise InvalidInput("to_customer", "already holds this contract")
        keys = p.keys()
        with p.uow() as uow:
            old_holder = load_customer(uow, old)
            if details is None:
                target = load_customer(uow, new_id)
            else:
                target = seal_customer(keys, new_id, CustomerStatus.ACTIVE, p.clock(), details)
                if uow.customers.by_email_index(target.email_idx) is not None:
                    raise Conflict(DUPLICATE_EMAIL)
        if details is not None:
            p.gate.decide(actor, Action.CREATE, personal(new_id), ctx)
        old_dek, new_dek = data_key(keys, old_holder), data_key(keys, target)
        moved = [move_service(old_dek, old, new_dek, new_id, s) for s in contract.services]
        record = Transfer(
            p.ids("trf"), contract_id, old, new_id, p.clock(), actor.id, decided.receipt.index
        )
        with p.uow() as uow:
            current = uow.contracts.get(contract_id)
            if current is None or current.holder_id != old or current.status != contract.status:
                raise Conflict(f"contract {contract_id} changed meanwhile; ask again")
            if details is not None:
                uow.customers.add(target)
                self._links.queue_link(uow.outbox, new_id)
            uow.contracts.move(contract_id, new_id, moved)
            # The FTP spaces' passwords were the old holder's: cleared with the handover, so
            # they keep no way in; the new holder sets their own (services/ftp_password.py).
            uow.ftp_passwords.clear([s.id for s in contract.services])
            uow.contracts.add_transfer(record)
            uow.commit()
        handover = p.outcomes.record(
            actor,
            Action.TRANSFER,
            Resource(Kind.CONTRACT, contract_id, owner=new_id),
            Outcome.CONTRACT_HANDED_OVER,
            f"contract handed over from {old} to {new_id}",
            AccessContext(base.case_id, note=f"from {old}"),
        )
        for hook in self.after_change:
            hook(actor, contract_id, "transferred")
        new_customer = details is not None
        return TransferResult(
            record, self._view(contract_id), new_customer, new_customer, handover.index
        )
