"""Planning a provisioning sync (issue 17): what each item would change, and the rows to write.

A plan is computed twice: in a read-only unit, so the gate decides every change before any is
made (STYLE rule 4), then again inside the writing unit with the same new ids, and written
only when it is the same plan (otherwise someone changed the registry meanwhile: Conflict,
nothing written). Comparing customers' details needs them opened; that is the upsert's own
work and nothing of them leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from entrusted.crypto.blind_index import customer_number_index
from entrusted.crypto.personal import (
    RegistryKeys,
    data_key,
    open_customer,
    open_service,
    reseal,
    seal_customer,
    seal_service,
)
from entrusted.domain.cases import GrantEnd
from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.domain.provisioning import (
    Applied,
    Change,
    ContractCancellation,
    ContractItem,
    CustomerItem,
    Entity,
    Item,
    ServiceItem,
    ServiceRemoval,
)
from entrusted.domain.registry import (
    ALREADY_HOSTED,
    ContractStatus,
    CustomerStatus,
    SealedCustomer,
    StoredContract,
    StoredService,
)
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.provisioning_forms import preferred_as
from entrusted.services.provisioning_ports import ProvisioningUnitOfWork

DUPLICATE_EMAIL = "a customer with this e-mail address is already registered"
CONTACT_CHANNELS = (
    "an existing customer's e-mail address and phone numbers are changed by the customer "
    "(a new address takes effect through the link sent to it), not by provisioning: they "
    "receive identification codes and password links; nothing was written"
)
ACTION_OF = {
    Change.CREATED: Action.CREATE,
    Change.UPDATED: Action.UPDATE,
    Change.UNCHANGED: Action.UPDATE,
    Change.REMOVED: Action.DELETE,
}


@dataclass(frozen=True, slots=True)
class Step:
    """One item's change, the resource the gate decides it on, and what to write."""

    applied: Applied
    resource: Resource
    write: Callable[[ProvisioningUnitOfWork, datetime], None] | None = None
    contract_id: str | None = None  # the contract whose grants (on the service) end
    ends: GrantEnd | None = None  # why they end: set for a removal and a cancellation

    @property
    def action(self) -> Action:
        return ACTION_OF[self.applied.change]


@dataclass
class Planner:
    """Plans `items` against one unit of work; `ids` keeps the new ids of the first plan."""

    keys: RegistryKeys
    now: datetime
    new_id: Callable[[str], str]
    ids: dict[tuple[Entity, str], str] = field(default_factory=dict)
    first_row: int = 1  # how errors number the items: an import's rows as its file does

    def plan(self, uow: ProvisioningUnitOfWork, items: Sequence[Item]) -> list[Step]:
        state = _Batch(uow, self, items)
        steps = []
        for n, item in enumerate(items):
            state.row = n
            try:
                steps.append(state.step(item))
            except (InvalidInput, Conflict, NotFound) as exc:
                raise _at(exc, n + self.first_row, len(items)) from None
        try:
            state.check_taken()
        except Conflict as exc:
            raise _at(exc, state.row + self.first_row, len(items)) from None
        return steps

    def id_for(self, entity: Entity, key: str, prefix: str) -> str:
        """The id the first plan gave this item (a new one only the first time: `setdefault`
        would draw one on every call and throw it away)."""
        if (entity, key) not in self.ids:
            self.ids[(entity, key)] = self.new_id(prefix)
        return self.ids[(entity, key)]


def _at(exc: InvalidInput | Conflict | NotFound, row: int, total: int) -> Exception:
    """The error naming the item it is about when there are several (the import's rows)."""
    if total == 1:
        return exc
    if isinstance(exc, InvalidInput):
        return InvalidInput(f"row {row} {exc.field}", exc.message.partition(": ")[2])
    if isinstance(exc, Conflict):
        return Conflict(f"row {row}: {exc}")
    # the row and the kind, not the hoster's id: this message is ledgered (gate.invalid-request)
    return InvalidInput(f"row {row} {exc.kind}", "names nothing provisioned so far")


class _Batch:
    """What the items so far did, so a contract may name a customer created in the same
    batch, and a service a contract created in it. Everything the items name is read up
    front in a few queries (an import of thousands of rows is not thousands of look-ups),
    and e-mail addresses and hosted names are checked against the file all at once."""

    def __init__(
        self, uow: ProvisioningUnitOfWork, planner: Planner, items: Sequence[Item]
    ) -> None:
        self.uow, self.p, self.row = uow, planner, 0
        self.customers: dict[str, SealedCustomer] = {}  # by customer number
        self.contracts: dict[str, StoredContract] = {}  # by contract number
        self.services: dict[tuple[str, str], StoredService] = {}  # (contract id, number)
        self.seen: set[tuple[Entity, str]] = set()
        self.emails: dict[bytes, tuple[str, int]] = {}  # index -> (customer, row) to check
        self.names: dict[bytes, tuple[str, int]] = {}  # index -> (service, row) to check
        self.holders: dict[str, SealedCustomer] = {}  # by customer id
        self.prefetch(items)

    def prefetch(self, items: Sequence[Item]) -> None:
        repo, key = self.uow.provisioning, self.p.keys.index_key
        numbers = {i.number for i in items if isinstance(i, CustomerItem)}
        numbers |= {i.customer for i in items if isinstance(i, ContractItem)}
        by_idx = {customer_number_index(key, n): n for n in numbers}
        found = repo.customers_for(list(by_idx))
        contract_numbers = {
            i.number if isinstance(i, ContractItem | ContractCancellation) else i.contract
            for i in items
            if not isinstance(i, CustomerItem)
        }
        contract_ids = repo.contracts_for(sorted(contract_numbers))
        stored = repo.contracts(sorted(contract_ids.values()))
        self.holders = repo.customers(
            sorted(set(found.values()) | {c.holder_id for c in stored.values()})
        )
        for idx, cid in found.items():
            self.customers[by_idx[idx]] = self.holders[cid]
        for number, ctr in contract_ids.items():
            self.contracts[number] = stored[ctr]
        by_id = {s.id: s for c in stored.values() for s in c.services}
        for (ctr, number), sid in repo.services_for(sorted(contract_ids.values())).items():
            if sid in by_id:
                self.services[(ctr, number)] = by_id[sid]

    def once(self, entity: Entity, key: str, what: str) -> None:
        if (entity, key) in self.seen:
            raise InvalidInput(what, "is listed twice")
        self.seen.add((entity, key))

    def step(self, item: Item) -> Step:
        if isinstance(item, CustomerItem):
            return self.customer(item)
        if isinstance(item, ContractItem):
            return self.contract(item)
        if isinstance(item, ServiceItem):
            return self.service(item)
        if isinstance(item, ServiceRemoval):
            return self.removal(item)
        return self.cancellation(item)

    # --- customers -----------------------------------------------------------------------

    def holder(self, number: str) -> SealedCustomer | None:
        return self.customers.get(number)

    def customer(self, item: CustomerItem) -> Step:
        self.once(Entity.CUSTOMER, item.number, "customer")
        keys = self.p.keys
        idx = customer_number_index(keys.index_key, item.number)
        existing = self.holder(item.number)
        if existing is None:
            cid = self.p.id_for(Entity.CUSTOMER, item.number, "cus")
            new = seal_customer(keys, cid, CustomerStatus.ACTIVE, self.p.now, item.details)
            sealed = preferred_as(new, item)
            self.email_free(sealed.email_idx, cid)
            self.customers[item.number] = self.holders[cid] = sealed

            def create(tx: ProvisioningUnitOfWork, _at: datetime) -> None:
                tx.customers.add(sealed)
                tx.provisioning.link_customer(idx, cid)

            return self.made(Entity.CUSTOMER, item.number, cid, Change.CREATED, create)
        self.customers[item.number] = existing
        current = open_customer(keys, existing)
        if current == item.details and preferred_as(existing, item) == existing:
            return self.made(Entity.CUSTOMER, item.number, existing.id, Change.UNCHANGED)
        contact = current.email, current.phone, current.mobile
        if contact != (item.details.email, item.details.phone, item.details.mobile):
            # Codes and password links go to these channels: a provisioning token that could
            # rewrite them could take the customer's account over (issue 17 trial finding).
            raise Conflict(CONTACT_CHANNELS)
        resealed = existing if current == item.details else reseal(keys, existing, item.details)
        updated = preferred_as(resealed, item)  # a language or zone alone is a plain column
        if updated.email_idx != existing.email_idx:
            self.email_free(updated.email_idx, existing.id)
        self.customers[item.number] = self.holders[existing.id] = updated

        def update(tx: ProvisioningUnitOfWork, _at: datetime) -> None:
            tx.customers.update(updated)

        return self.made(Entity.CUSTOMER, item.number, existing.id, Change.UPDATED, update)

    def email_free(self, idx: bytes, owner: str) -> None:
        if idx in self.emails:
            raise Conflict(DUPLICATE_EMAIL)
        self.emails[idx] = (owner, self.row)

    def check_taken(self) -> None:
        """The batch's new addresses and hosted names against what is on file, in one query
        each; Conflict naming the first row whose address or name someone else holds."""
        repo = self.uow.provisioning
        clashes = [
            (row, DUPLICATE_EMAIL)
            for idx, holder in repo.emails_held(list(self.emails)).items()
            for owner, row in [self.emails[idx]]
            if holder != owner
        ] + [
            (row, ALREADY_HOSTED)
            for idx, service in repo.names_hosted(list(self.names)).items()
            for owner, row in [self.names[idx]]
            if service != owner
        ]
        if clashes:
            self.row, message = min(clashes)
            raise Conflict(message)

    # --- contracts -----------------------------------------------------------------------

    def known_contract(self, number: str) -> StoredContract | None:
        return self.contracts.get(number)

    def contract(self, item: ContractItem) -> Step:
        self.once(Entity.CONTRACT, item.number, "contract")
        holder = self.holder(item.customer)
        if holder is None:
            raise InvalidInput("customer", "names no customer provisioned so far")
        existing = self.known_contract(item.number)
        if existing is None:
            ctr = self.p.id_for(Entity.CONTRACT, item.number, "ctr")
            new = StoredContract(ctr, holder.id, ContractStatus.ACTIVE, self.p.now)
            self.contracts[item.number] = new

            def create(tx: ProvisioningUnitOfWork, _at: datetime) -> None:
                tx.contracts.add(new)
                tx.provisioning.link_contract(item.number, ctr)

            return self.made(Entity.CONTRACT, item.number, ctr, Change.CREATED, create, holder.id)
        self.contracts[item.number] = existing
        if existing.holder_id != holder.id:
            raise Conflict(
                f"contract {existing.id} has another holder; a holder changes only by a "
                "transfer, once support identified the holder"
            )
        if existing.status is ContractStatus.CANCELLED:
            raise Conflict(f"contract {existing.id} is cancelled; provisioning does not reopen it")
        return self.made(
            Entity.CONTRACT, item.number, existing.id, Change.UNCHANGED, None, holder.id
        )

    def active_contract(self, number: str) -> tuple[StoredContract, SealedCustomer]:
        contract = self.known_contract(number)
        if contract is None:
            raise InvalidInput("contract", "names no contract provisioned so far")
        if contract.status is ContractStatus.CANCELLED:
            raise Conflict(f"contract {contract.id} is cancelled")
        holder = self.holders[contract.holder_id]  # on file (foreign key) or new in the batch
        return contract, holder

    # --- hosted services -----------------------------------------------------------------

    def known_service(self, contract: StoredContract, number: str) -> StoredService | None:
        return self.services.get((contract.id, number))

    def service(self, item: ServiceItem) -> Step:
        self.once(Entity.SERVICE, f"{item.contract}/{item.number}", "service")
        contract, holder = self.active_contract(item.contract)
        keys = self.p.keys
        dek = data_key(keys, holder)
        existing = self.known_service(contract, item.number)
        if existing is None:
            sid = self.p.id_for(Entity.SERVICE, f"{item.contract}/{item.number}", "svc")
            new = seal_service(keys, dek, holder.id, sid, contract.id, item.kind, item.name)
            self.name_free(new)
            self.services[(contract.id, item.number)] = new

            def create(tx: ProvisioningUnitOfWork, _at: datetime) -> None:
                tx.provisioning.add_service(new, item.number)

            return self.made(Entity.SERVICE, item.number, sid, Change.CREATED, create, holder.id)
        self.services[(contract.id, item.number)] = existing
        if existing.kind is not item.kind:
            raise Conflict(
                f"service {existing.id} is a {existing.kind.value}; remove it and add a new one"
            )
        if open_service(dek, holder.id, existing) == item.name:
            return self.made(
                Entity.SERVICE, item.number, existing.id, Change.UNCHANGED, None, holder.id
            )
        renamed = seal_service(keys, dek, holder.id, existing.id, contract.id, item.kind, item.name)
        self.name_free(renamed)
        self.services[(contract.id, item.number)] = renamed

        def rename(tx: ProvisioningUnitOfWork, _at: datetime) -> None:
            tx.provisioning.rename_service(renamed)

        return self.made(
            Entity.SERVICE, item.number, existing.id, Change.UPDATED, rename, holder.id
        )

    def name_free(self, service: StoredService) -> None:
        """Refuse a login name or domain hosted already (here or earlier in the batch)."""
        idx = service.name_idx
        if idx is None:
            return
        if idx in self.names:
            raise Conflict(ALREADY_HOSTED)
        self.names[idx] = (service.id, self.row)

    def removal(self, item: ServiceRemoval) -> Step:
        self.once(Entity.SERVICE, f"{item.contract}/{item.number}", "service")
        contract = self.known_contract(item.contract)
        existing = None if contract is None else self.known_service(contract, item.number)
        if contract is None or existing is None:
            raise NotFound("service", item.number)
        sid = existing.id

        def remove(tx: ProvisioningUnitOfWork, at: datetime) -> None:
            tx.provisioning.remove_service(sid, at)
            tx.ftp_passwords.clear([sid])

        return self.made(
            Entity.SERVICE,
            item.number,
            sid,
            Change.REMOVED,
            remove,
            contract.holder_id,
            contract.id,
            GrantEnd.SERVICE_REMOVED,
        )

    def cancellation(self, item: ContractCancellation) -> Step:
        self.once(Entity.CONTRACT, item.number, "contract")
        contract = self.known_contract(item.number)
        if contract is None:
            raise NotFound("contract", item.number)
        cid, holder, ends = contract.id, contract.holder_id, GrantEnd.CANCELLED
        if contract.status is ContractStatus.CANCELLED:  # grants still live end all the same
            return self.made(
                Entity.CONTRACT, item.number, cid, Change.UNCHANGED, None, holder, cid, ends
            )

        def cancel(tx: ProvisioningUnitOfWork, at: datetime) -> None:
            tx.contracts.cancel(cid, at)

        return self.made(
            Entity.CONTRACT, item.number, cid, Change.REMOVED, cancel, holder, cid, ends
        )

    def made(
        self,
        entity: Entity,
        external_id: str,
        id_: str,
        change: Change,
        write: Callable[[ProvisioningUnitOfWork, datetime], None] | None = None,
        owner: str | None = None,
        contract_id: str | None = None,
        ends: GrantEnd | None = None,
    ) -> Step:
        if entity is Entity.CUSTOMER:
            resource = Resource(ResourceKind.PERSONAL_DETAILS, id_, owner=id_)
        else:
            resource = Resource(ResourceKind.CONTRACT, id_, owner=owner)
        return Step(Applied(entity, external_id, id_, change), resource, write, contract_id, ends)
