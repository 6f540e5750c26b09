"""`/v1/grants`: consent grants (P9, P10, P11): read, revoke (the customer), use and close
sessions (staff, or the mail and FTP servers), and the one-click "this was not me" from a
verbal-consent receipt, which needs no login: the link itself went to the address on file."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.consent_models import GrantOut, SessionOut
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn

router = APIRouter(prefix="/v1/grants", tags=["grants"])


class NotMeIn(StrictIn):
    token: str = Field(min_length=1, max_length=200, description="From the receipt's link.")


class UseOut(BaseModel):
    session: SessionOut
    grant: GrantOut


@router.post("/not-me", response_model=GrantOut, summary="This consent was not given by me")
def not_me(body: NotMeIn, c: ContainerDep) -> GrantOut:
    return GrantOut.of(c.verbal_consent.not_me(body.token), c.clock())


@router.get("/{grant_id}", response_model=GrantOut, summary="Read a grant")
def read(grant_id: ids.GrantId, who: ActorDep, c: ContainerDep) -> GrantOut:
    return GrantOut.of(c.grants.get(who, grant_id), c.clock())


@router.post("/{grant_id}/revoke", response_model=GrantOut, summary="The customer withdraws it")
def revoke(grant_id: ids.GrantId, who: ActorDep, c: ContainerDep) -> GrantOut:
    return GrantOut.of(c.grants.revoke(who, grant_id), c.clock())


@router.post("/{grant_id}/use", response_model=UseOut, summary="Open a session under it")
def use(grant_id: ids.GrantId, who: ActorDep, c: ContainerDep) -> UseOut:
    opened = c.grants.use(who, grant_id)
    return UseOut(session=SessionOut.of(opened.session), grant=GrantOut.of(opened.grant, c.clock()))


@router.post(
    "/sessions/{session_id}/end", response_model=GrantOut, summary="Close a session under it"
)
def end_session(session_id: ids.SessionId, who: ActorDep, c: ContainerDep) -> GrantOut:
    return GrantOut.of(c.grants.end_session(who, session_id), c.clock())
