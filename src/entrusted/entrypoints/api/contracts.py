"""`/v1/contracts`: open, read, cancel and transfer contracts (P1)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from entrusted.domain.policy import Action
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.registry_models import (
    ContractOut,
    RegistrationIn,
    ServiceIn,
)
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.gate import AccessContext
from entrusted.services.registry_forms import ServiceRequest

router = APIRouter(prefix="/v1/contracts", tags=["contracts"])


class ContractIn(StrictIn):
    holder_id: str = Field(min_length=1, max_length=40)
    services: list[ServiceIn] = Field(default_factory=list, max_length=50)


class CaseIn(StrictIn):
    case_id: str | None = Field(default=None, max_length=64)


class TransferIn(StrictIn):
    """Give `to_customer` (an existing customer's id) or `new_holder` (registered on the spot)."""

    to_customer: str | None = Field(default=None, max_length=40)
    new_holder: RegistrationIn | None = None
    case_id: str | None = Field(default=None, max_length=64)


class TransferOut(BaseModel):
    id: str
    contract: ContractOut
    from_customer: str
    to_customer: str
    new_customer: bool
    password_link_queued: bool
    # The gate's decision, filed under the old holder, and the handover itself, filed under
    # the new one once the transfer committed: each holder finds one in their own entries.
    ledger_index: int
    handover_index: int


@router.post("", response_model=ContractOut, status_code=201, summary="Open a contract")
def open_contract(body: ContractIn, who: ActorDep, c: ContainerDep) -> ContractOut:
    ids.check(c, who, Action.CREATE, holder_id=body.holder_id)
    services = [ServiceRequest(s.kind, s.name) for s in body.services]
    return ContractOut.of(c.contracts.open(who, body.holder_id, services))


@router.get("/{contract_id}", response_model=ContractOut, summary="Read a contract")
def read(
    contract_id: ids.ContractId, who: ActorDep, c: ContainerDep, case_id: ids.CaseQuery
) -> ContractOut:
    return ContractOut.of(c.contracts.get(who, contract_id, AccessContext(case_id=case_id)))


@router.post(
    "/{contract_id}/cancel", response_model=ContractOut, summary="Cancel a contract (dated)"
)
def cancel(
    contract_id: ids.ContractId, body: CaseIn, who: ActorDep, c: ContainerDep
) -> ContractOut:
    ids.check(c, who, Action.UPDATE, case_id=body.case_id)
    return ContractOut.of(c.contracts.cancel(who, contract_id, AccessContext(case_id=body.case_id)))


@router.post(
    "/{contract_id}/transfer",
    response_model=TransferOut,
    summary="Hand a contract to another holder",
)
def transfer(
    contract_id: ids.ContractId, body: TransferIn, who: ActorDep, c: ContainerDep
) -> TransferOut:
    ids.check(c, who, Action.TRANSFER, to_customer=body.to_customer, case_id=body.case_id)
    done = c.contracts.transfer(
        who,
        contract_id,
        to_customer=body.to_customer,
        new_holder=body.new_holder.form() if body.new_holder else None,
        context=AccessContext(case_id=body.case_id),
    )
    return TransferOut(
        id=done.transfer.id,
        contract=ContractOut.of(done.contract),
        from_customer=done.transfer.from_customer,
        to_customer=done.transfer.to_customer,
        new_customer=done.new_customer,
        password_link_queued=done.password_link_queued,
        ledger_index=done.transfer.ledger_index,
        handover_index=done.handover_index,
    )
