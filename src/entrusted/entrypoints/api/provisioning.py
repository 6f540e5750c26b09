"""`/v1/provisioning`: the hoster's provisioning system upserts customers, contracts and hosted
services by its own ids (issue 17, P1). 201 when something was created, 200 otherwise; the
body says what changed (`unchanged` for a repeated call)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from entrusted.domain.policy import Action, Actor
from entrusted.domain.provisioning import MAX_EXTERNAL_ID, Applied, Change, Item
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.errors import InvalidInput
from entrusted.services.provisioning import ProvisioningService
from entrusted.services.provisioning_forms import (
    cancellation_item,
    contract_item,
    customer_item,
    removal_item,
    service_item,
)
from entrusted.services.registry_forms import Registration

router = APIRouter(prefix="/v1/provisioning", tags=["provisioning"])
ExternalId = Annotated[str, Path(max_length=MAX_EXTERNAL_ID, description="the hoster's own id")]


class CustomerIn(StrictIn):
    last_name: str = Field(max_length=200)
    first_name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    mobile: str | None = Field(default=None, max_length=40)
    language: str | None = Field(
        default=None, max_length=8, description="en, fr, de or it; left out: unchanged"
    )
    time_zone: str | None = Field(
        default=None, max_length=64, description="an IANA name; left out: unchanged"
    )


class ContractIn(StrictIn):
    customer: str = Field(max_length=MAX_EXTERNAL_ID, description="the holder's external id")


class ServiceIn(StrictIn):
    kind: str = Field(max_length=20, description="mailbox, ftp_space, web_site or domain")
    name: str = Field(max_length=320)


class AppliedOut(BaseModel):
    entity: str
    external_id: str
    id: str
    change: str


def _sync(
    service: ProvisioningService, who: Actor, action: Action, build: Callable[[], Item],
    response: Response,
) -> AppliedOut:  # fmt: skip
    service.require(who, action)
    try:
        item = build()
    except InvalidInput as exc:
        service.refuse_input(who, action, exc)
    (row,) = service.sync(who, [item]).rows
    response.status_code = 201 if row.change is Change.CREATED else 200
    return _out(row)


def _out(row: Applied) -> AppliedOut:
    return AppliedOut(
        entity=row.entity.value, external_id=row.external_id, id=row.id, change=row.change.value
    )


@router.put("/customers/{external_id}", response_model=AppliedOut, summary="Upsert a customer")
def put_customer(
    external_id: ExternalId, body: CustomerIn, who: ActorDep, c: ContainerDep, response: Response
) -> AppliedOut:
    form = Registration(
        body.last_name, body.first_name, body.email, body.phone, body.mobile,
        language=body.language, time_zone=body.time_zone,
    )  # fmt: skip
    p = c.provisioning
    return _sync(
        p, who, Action.UPDATE, lambda: customer_item(p.contacts, external_id, form), response
    )


@router.put("/contracts/{external_id}", response_model=AppliedOut, summary="Upsert a contract")
def put_contract(
    external_id: ExternalId, body: ContractIn, who: ActorDep, c: ContainerDep, response: Response
) -> AppliedOut:
    return _sync(
        c.provisioning, who, Action.UPDATE, lambda: contract_item(external_id, body.customer),
        response,
    )  # fmt: skip


@router.delete(
    "/contracts/{external_id}", response_model=AppliedOut, summary="Cancel a contract (dated)"
)
def cancel_contract(
    external_id: ExternalId, who: ActorDep, c: ContainerDep, response: Response
) -> AppliedOut:
    return _sync(
        c.provisioning, who, Action.DELETE, lambda: cancellation_item(external_id), response
    )


@router.put(
    "/contracts/{external_id}/services/{service_external_id}",
    response_model=AppliedOut,
    summary="Upsert a hosted service (a rename keeps its id)",
)
def put_service(
    external_id: ExternalId,
    service_external_id: ExternalId,
    body: ServiceIn,
    who: ActorDep,
    c: ContainerDep,
    response: Response,
) -> AppliedOut:
    p = c.provisioning
    return _sync(
        p, who, Action.UPDATE,
        lambda: service_item(p.contacts, external_id, service_external_id, body.kind, body.name),
        response,
    )  # fmt: skip


@router.delete(
    "/contracts/{external_id}/services/{service_external_id}",
    response_model=AppliedOut,
    summary="Remove a hosted service; every grant on it ends",
)
def delete_service(
    external_id: ExternalId,
    service_external_id: ExternalId,
    who: ActorDep,
    c: ContainerDep,
    response: Response,
) -> AppliedOut:
    return _sync(
        c.provisioning, who, Action.DELETE,
        lambda: removal_item(external_id, service_external_id), response,
    )  # fmt: skip
