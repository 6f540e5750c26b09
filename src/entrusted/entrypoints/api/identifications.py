"""`/v1/identifications`: support identifies a caller by a one-time code or the customer's
session (P1); the outcome is recorded and ledgered."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from entrusted.domain.policy import Action
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.registry_models import IdentificationOut
from entrusted.entrypoints.api.strict import StrictIn

router = APIRouter(prefix="/v1/identifications", tags=["identifications"])


class StartIn(StrictIn):
    customer_id: str = Field(min_length=1, max_length=40)
    method: str = Field(max_length=16, description="email_code, sms_code or session")
    contract_id: str | None = Field(default=None, max_length=40)
    case_id: str | None = Field(default=None, max_length=64)


class CodeIn(StrictIn):
    code: str = Field(min_length=1, max_length=16)


@router.post(
    "", response_model=IdentificationOut, status_code=201, summary="Start identifying a caller"
)
def start(body: StartIn, who: ActorDep, c: ContainerDep) -> IdentificationOut:
    ids.check(
        c, who, Action.IDENTIFY,
        customer_id=body.customer_id, contract_id=body.contract_id, case_id=body.case_id,
    )  # fmt: skip
    started = c.identification.start(
        who, body.customer_id, body.method, contract_id=body.contract_id, case_id=body.case_id
    )
    return IdentificationOut.of(started, c.clock())


@router.post(
    "/{identification_id}/verify",
    response_model=IdentificationOut,
    summary="Check the code the caller reads back",
)
def verify(
    identification_id: ids.IdentificationId, body: CodeIn, who: ActorDep, c: ContainerDep
) -> IdentificationOut:
    return IdentificationOut.of(
        c.identification.verify(who, identification_id, body.code), c.clock()
    )


@router.post(
    "/{identification_id}/confirm",
    response_model=IdentificationOut,
    summary="The customer confirms from their session",
)
def confirm(
    identification_id: ids.IdentificationId, who: ActorDep, c: ContainerDep
) -> IdentificationOut:
    return IdentificationOut.of(c.identification.confirm(who, identification_id), c.clock())
