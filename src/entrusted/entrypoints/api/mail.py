"""`/v1/mailboxes/{address}/metadata` (P13): a mailbox's totals, metadata only; and
`/v1/gate/mail-login` (P10, P11): Dovecot's Lua passdb asks whether a staff login may pass.

The login answer is deliberately plain for the Lua hook: `200 {"allow": true, ...}` or
`403 {"allow": false, "reason": ...}`; any other status (a bad token, Entrusted failing)
makes the hook answer Dovecot with a temporary failure."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from entrusted.domain.mail import MailboxMetadata
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.errors import AuthenticationFailed, InvalidInput, NotFound, RateLimited, Refused

router = APIRouter(prefix="/v1", tags=["mail"])
# The login gate is asked by Dovecot, never by people: served on the internal hook listener
# when the roles are split (entrypoints/api/roles.py).
gate_router = APIRouter(prefix="/v1", tags=["mail"])
DENIALS = (AuthenticationFailed, InvalidInput, NotFound, RateLimited, Refused)


class FolderOut(BaseModel):
    name: str
    messages: int
    bytes: int
    vbytes: int = Field(description="RFC822.SIZE total (CRLF line ends), as IMAP reports it")


class MetadataOut(BaseModel):
    service_id: str
    messages: int
    bytes: int
    vbytes: int
    folders: list[FolderOut]

    @classmethod
    def of(cls, m: MailboxMetadata) -> MetadataOut:
        return cls(
            service_id=m.service_id,
            messages=m.messages,
            bytes=m.bytes,
            vbytes=m.vbytes,
            folders=[FolderOut(name=f.name, messages=f.messages, bytes=f.bytes, vbytes=f.vbytes)
                     for f in m.folders],
        )  # fmt: skip


@router.get(
    "/mailboxes/{address}/metadata",
    response_model=MetadataOut,
    summary="A mailbox's size, folders and counts",
)
def metadata(address: str, who: ActorDep, c: ContainerDep) -> MetadataOut:
    return MetadataOut.of(c.mailbox_monitor.metadata(who, address))


class MailLoginIn(StrictIn):
    target: str = Field(min_length=1, max_length=320, description="The customer's address")
    staff: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    remote_ip: str = Field(default="", max_length=64)


class MailLoginOut(BaseModel):
    allow: bool
    grant_id: str
    session_id: str
    case_id: str
    expires_at: datetime
    read_only: bool


class MailLoginDenied(BaseModel):
    allow: bool
    reason: str


@gate_router.post(
    "/gate/mail-login",
    response_model=MailLoginOut,
    responses={403: {"model": MailLoginDenied, "description": "The login may not pass."}},
    summary="Dovecot asks: may this staff login pass?",
)
def mail_login(body: MailLoginIn, who: ActorDep, c: ContainerDep) -> MailLoginOut | JSONResponse:
    try:
        done = c.mail_login.login(who, body.target, body.staff, body.password, body.remote_ip)
    except DENIALS as exc:
        return JSONResponse({"allow": False, "reason": exc.message}, status_code=403)
    return MailLoginOut(
        allow=True,
        grant_id=done.grant_id,
        session_id=done.session_id,
        case_id=done.case_id,
        expires_at=done.expires_at,
        read_only=done.read_only,
    )
