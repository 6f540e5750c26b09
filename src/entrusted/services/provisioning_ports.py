"""What provisioning sync needs from storage (issue 17): the hoster's ids mapped to ours, and
hosted services added, renamed and removed one by one. One transaction with the registry and
the grants, so an import is all or nothing and a removal ends its grants with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from entrusted.domain.registry import SealedCustomer, StoredContract, StoredService
from entrusted.services.ports import ConsentUnitOfWork, RegistryUnitOfWork

# The answer when the registry moved between the plan the gate decided and the write.
CHANGED = "the registry changed meanwhile; nothing was written, send again"


class ProvisioningRepository(Protocol):
    """The hoster's ids: a customer number only as its blind index, contract and service
    numbers as sent. The look-ups take many keys at once (an import names thousands) and
    return only what is on file. `add_service` raises Conflict for a name hosted already, the
    links Conflict for an id linked meanwhile; `serialise` makes a second writer naming the same
    ids wait for the first (locks held until the transaction ends)."""

    def customers_for(self, number_idxs: Sequence[bytes]) -> dict[bytes, str]: ...
    def contracts_for(self, external_ids: Sequence[str]) -> dict[str, str]: ...
    def services_for(self, contract_ids: Sequence[str]) -> dict[tuple[str, str], str]: ...
    def customers(self, customer_ids: Sequence[str]) -> dict[str, SealedCustomer]: ...
    def contracts(self, contract_ids: Sequence[str]) -> dict[str, StoredContract]: ...
    def serialise(self, keys: Sequence[str]) -> None: ...
    def emails_held(self, email_idxs: Sequence[bytes]) -> dict[bytes, str]: ...
    def names_hosted(self, name_idxs: Sequence[bytes]) -> dict[bytes, str]: ...
    def link_customer(self, number_idx: bytes, customer_id: str) -> None: ...
    def link_contract(self, external_id: str, contract_id: str) -> None: ...
    def add_service(self, service: StoredService, external_id: str) -> None: ...
    def rename_service(self, service: StoredService) -> None: ...
    def remove_service(self, service_id: str, at: datetime) -> None: ...


class ProvisioningUnitOfWork(RegistryUnitOfWork, ConsentUnitOfWork, Protocol):
    provisioning: ProvisioningRepository


ProvisioningUnitOfWorkFactory = Callable[[], ProvisioningUnitOfWork]
