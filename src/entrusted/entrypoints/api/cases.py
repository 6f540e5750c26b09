"""`/v1/cases`: support cases, the scope of every consent (P11), and verbal consent recorded
on them once the caller is identified (P9)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from entrusted.domain.policy import Action
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.consent_models import (
    CaseDetailOut,
    CaseOut,
    GrantOut,
    VerbalConsentOut,
)
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.cases import PAGE_DEFAULT, PAGE_MAX

router = APIRouter(prefix="/v1/cases", tags=["cases"])


class CaseIn(StrictIn):
    contract_id: str = Field(min_length=1, max_length=40)
    subject: str = Field(min_length=1, max_length=200)


class ReopenIn(StrictIn):
    subject: str | None = Field(default=None, max_length=200)


class VerbalIn(StrictIn):
    service_id: str = Field(min_length=1, max_length=40)
    read_back: bool = Field(
        description="The scope was read back to the caller, who agreed.", strict=True
    )
    # Strict: a consent's scope is what the JSON says, not `true` taken as 1 or "yes" as true.
    read_only: bool = Field(default=False, strict=True)
    sessions: int = Field(default=1, ge=1, le=20, strict=True)


class VerbalOut(BaseModel):
    consent: VerbalConsentOut
    grant: GrantOut


@router.post("", response_model=CaseOut, status_code=201, summary="Open a support case")
def open_case(body: CaseIn, who: ActorDep, c: ContainerDep) -> CaseOut:
    ids.check(c, who, Action.CREATE, contract_id=body.contract_id)
    return CaseOut.of(c.cases.open(who, body.contract_id, body.subject))


@router.get("", response_model=list[CaseOut], summary="List cases, newest first")
def list_cases(
    who: ActorDep,
    c: ContainerDep,
    customer_id: ids.CustomerQuery,
    status: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX),
) -> list[CaseOut]:
    """Staff see one customer's cases (`customer_id`) or else only their own."""
    return [CaseOut.of(case) for case in c.cases.find(who, status, customer_id, limit)]


@router.get("/{case_id}", response_model=CaseDetailOut, summary="A case and its consent")
def read(case_id: ids.CaseId, who: ActorDep, c: ContainerDep) -> CaseDetailOut:
    return CaseDetailOut.of_view(c.cases.get(who, case_id), c.clock())


@router.post("/{case_id}/resolve", response_model=CaseOut, summary="Resolve; consent ends")
def resolve(case_id: ids.CaseId, who: ActorDep, c: ContainerDep) -> CaseOut:
    return CaseOut.of(c.cases.resolve(who, case_id))


@router.post(
    "/{case_id}/reopen", response_model=CaseOut, status_code=201, summary="Continue as a new case"
)
def reopen(case_id: ids.CaseId, body: ReopenIn, who: ActorDep, c: ContainerDep) -> CaseOut:
    return CaseOut.of(c.cases.reopen(who, case_id, body.subject))


@router.post(
    "/{case_id}/verbal-consent",
    response_model=VerbalOut,
    status_code=201,
    summary="Record the identified caller's verbal consent",
)
def verbal_consent(
    case_id: ids.CaseId, body: VerbalIn, who: ActorDep, c: ContainerDep
) -> VerbalOut:
    ids.check(c, who, Action.CREATE, service_id=body.service_id)
    consent, grant = c.verbal_consent.record(
        who,
        case_id,
        body.service_id,
        read_back=body.read_back,
        read_only=body.read_only,
        sessions=body.sessions,
    )
    return VerbalOut(consent=VerbalConsentOut.of(consent), grant=GrantOut.of(grant, c.clock()))
