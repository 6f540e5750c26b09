"""Provisioning sync as the composition root wires it (issue 17): its unit of work (the
registry's, with the hoster's ids and the grants in the same transaction) and the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from entrusted.adapters.db.provisioning_store import SqlProvisioningUnitOfWork
from entrusted.services.provisioning import ProvisioningParts, ProvisioningService
from entrusted.services.provisioning_ports import ProvisioningUnitOfWork
from entrusted.services.registry import RegistryParts

if TYPE_CHECKING:
    from entrusted.bootstrap import Container


def provisioning_uow(
    engine: sa.Engine, read_only: bool = False
) -> Callable[[], ProvisioningUnitOfWork]:
    def uow() -> ProvisioningUnitOfWork:
        return SqlProvisioningUnitOfWork(engine, read_only=read_only)

    return uow


def customer_numbers(engine: sa.Engine) -> Callable[[bytes], str | None]:
    """Support's look-up by the hoster's customer number: its index to the customer."""
    read = provisioning_uow(engine, read_only=True)

    def find(number_idx: bytes) -> str | None:
        with read() as uow:
            return uow.provisioning.customers_for([number_idx]).get(number_idx)

    return find


def build_provisioning(c: Container, parts: RegistryParts) -> ProvisioningService:
    """The service, ending grants through the consent area's code and running the registry's
    contract hooks (the same list the contract service runs) on a cancellation."""
    wired = ProvisioningParts(
        provisioning_uow(c.engine),
        provisioning_uow(c.engine, read_only=True),
        c.gate,
        parts.keys,
        parts.contacts,
        parts.clock,
        parts.ids,
    )
    return ProvisioningService(wired, c.grants, c.contracts.after_change)
