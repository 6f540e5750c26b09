"""`/v1/access-requests`: support asks the contract holder for one mailbox or FTP space, for
one case; the holder approves (with the single-use link from the e-mail) or denies (P10, P11)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import Field

from entrusted.domain.policy import Action
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.consent_models import AccessRequestOut, GrantOut
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn

router = APIRouter(prefix="/v1/access-requests", tags=["access requests"])


class RequestIn(StrictIn):
    case_id: str = Field(min_length=1, max_length=40)
    service_id: str = Field(min_length=1, max_length=40)
    justification: str = Field(max_length=500)
    # Strict: a consent's scope is what the JSON says, not `true` taken as 1 or "yes" as true.
    read_only: bool = Field(default=False, strict=True)
    sessions: int = Field(default=1, ge=1, le=20, strict=True)


class ApproveIn(StrictIn):
    token: str = Field(min_length=1, max_length=200, description="From the e-mailed link.")


class DenyIn(StrictIn):
    token: str | None = Field(default=None, max_length=200)


@router.post("", response_model=AccessRequestOut, status_code=201, summary="Ask for access")
def ask(body: RequestIn, who: ActorDep, c: ContainerDep) -> AccessRequestOut:
    ids.check(c, who, Action.CREATE, case_id=body.case_id, service_id=body.service_id)
    made = c.consent.request(
        who,
        body.case_id,
        body.service_id,
        body.justification,
        read_only=body.read_only,
        sessions=body.sessions,
    )
    return AccessRequestOut.of(made, c.clock())


@router.get("/{request_id}", response_model=AccessRequestOut, summary="Read an access request")
def read(request_id: ids.RequestId, who: ActorDep, c: ContainerDep) -> AccessRequestOut:
    return AccessRequestOut.of(c.consent.get_request(who, request_id), c.clock())


@router.post("/{request_id}/approve", response_model=GrantOut, summary="The holder approves")
def approve(request_id: ids.RequestId, body: ApproveIn, who: ActorDep, c: ContainerDep) -> GrantOut:
    return GrantOut.of(c.consent.approve(who, request_id, body.token), c.clock())


@router.post("/{request_id}/deny", response_model=AccessRequestOut, summary="The holder denies")
def deny(
    request_id: ids.RequestId,
    who: ActorDep,
    c: ContainerDep,
    body: Annotated[DenyIn | None, Body()] = None,  # optional, as documented: a bare POST says no
) -> AccessRequestOut:
    token = None if body is None else body.token
    return AccessRequestOut.of(c.consent.deny(who, request_id, token), c.clock())
