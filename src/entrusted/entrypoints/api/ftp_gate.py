"""`/v1/ftp/...`: the FTP server on another host asks the gate (P9, P11), with the `ftp_server`
service token, as Dovecot's Lua hook does for mail. Each route is one `FtpDoor` call of
`FtpLoginService` (adapters/ftp/gate_http.py is the client); a session is named by ids only
and read back from the database (`FtpLoginService.resume`), never taken on the server's word.

Any other caller is refused and ledgered (`ftp.server-only`, 403). The ids of a session are
shape-checked (`ids.check`): another shape is `422`, ledgered under the placeholder id; a
session the database does not vouch for answers `{"ok": false}` (ledgered by `resume`).
A login's refusal is a plain
`403 {"allow": false, "kind", "rule"}` the server turns into its `530` reply; any other
status makes the server fail closed (`421`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from entrusted.bootstrap import Container
from entrusted.domain.policy import Action, Actor
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.errors import AuthenticationFailed, InvalidInput, NotFound, RateLimited, Refused
from entrusted.services.ftp_login import FtpSession, SessionRef
from entrusted.services.grant_steps import MAX_NAME

router = APIRouter(prefix="/v1/ftp", tags=["ftp"])
DENIALS = (AuthenticationFailed, InvalidInput, NotFound, RateLimited, Refused)
_ID = Field(default=None, max_length=200)  # the shape is checked in the route, ledgered
_MARK = Field(default=None, pattern=r"^[0-9a-f]{32}$")
_COMMAND = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z]+( [A-Za-z]+)?$")


class FtpLoginIn(StrictIn):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    remote_ip: str = Field(default="", max_length=64)


class GrantOut(BaseModel):
    grant_id: str
    session_id: str
    case_id: str
    expires_at: datetime


class FtpSessionOut(BaseModel):
    actor_kind: Literal["staff", "customer"]
    actor_id: str
    service_id: str
    holder_id: str
    contract_id: str
    read_only: bool
    grant: GrantOut | None
    password_mark: str | None = None  # a customer's: which FTP password the login used

    @classmethod
    def of(cls, s: FtpSession) -> FtpSessionOut:
        e = s.entry
        grant = None if e is None else GrantOut(
            grant_id=e.grant_id, session_id=e.session_id, case_id=e.case_id, expires_at=e.expires_at
        )  # fmt: skip
        return cls(
            actor_kind="customer" if e is None else "staff",
            actor_id=s.actor.id,
            service_id=s.resource.id,
            holder_id=s.resource.owner or "",
            contract_id=s.contract_id,
            read_only=s.read_only,
            grant=grant,
            password_mark=s.password_mark,
        )


class FtpLoginOut(BaseModel):
    allow: bool
    session: FtpSessionOut


class FtpLoginDenied(BaseModel):
    allow: bool
    kind: Literal["refused", "rate_limited", "failed"]
    rule: str | None = None


class RefIn(StrictIn):
    session_id: str | None = _ID
    customer_id: str | None = _ID
    contract_id: str | None = _ID
    service_id: str | None = _ID
    mark: str | None = _MARK

    def ref(self) -> SessionRef:
        return SessionRef(
            self.session_id, self.customer_id, self.contract_id, self.service_id, self.mark
        )


class StepIn(StrictIn):
    session: RefIn
    command: str = _COMMAND
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)


class SessionIn(StrictIn):
    session: RefIn


class WriteIn(StrictIn):
    session: RefIn
    command: str = _COMMAND


class Answer(BaseModel):
    ok: bool


@router.post(
    "/login",
    response_model=FtpLoginOut,
    responses={403: {"model": FtpLoginDenied, "description": "The login may not pass."}},
    summary="The FTP server asks: may this login pass?",
)
def login(body: FtpLoginIn, who: ActorDep, c: ContainerDep) -> FtpLoginOut | JSONResponse:
    try:
        session = c.ftp_login.login(who, body.username, body.password, body.remote_ip)
    except DENIALS as exc:
        return JSONResponse(_denied(exc).model_dump(), status_code=403)
    return FtpLoginOut(allow=True, session=FtpSessionOut.of(session))


@router.post("/step", response_model=Answer, summary="May this session run one more command?")
def step(body: StepIn, who: ActorDep, c: ContainerDep) -> Answer:
    session = _resume(c, who, body.session)
    return Answer(ok=session is not None and c.ftp_login.step(session, body.command, body.name))


@router.post("/still-live", response_model=Answer, summary="May this session go on?")
def still_live(body: SessionIn, who: ActorDep, c: ContainerDep) -> Answer:
    session = _resume(c, who, body.session)
    return Answer(ok=session is not None and c.ftp_login.still_live(session))


@router.post("/refuse-write", response_model=Answer, summary="Ledger a write refused (read-only)")
def refuse_write(body: WriteIn, who: ActorDep, c: ContainerDep) -> Answer:
    session = _resume(c, who, body.session)
    ok = session is not None and session.read_only  # only a read-only grant refuses writes
    if session is not None and ok:
        c.ftp_login.refuse_write(session, body.command)
    return Answer(ok=ok)


@router.post("/logout", response_model=Answer, summary="The FTP connection closed")
def logout(body: SessionIn, who: ActorDep, c: ContainerDep) -> Answer:
    session = _resume(c, who, body.session)
    if session is not None:
        c.ftp_login.logout(who, session)
    return Answer(ok=session is not None)


def _resume(c: Container, who: Actor, ref: RefIn) -> FtpSession | None:
    """The session named, read back (None if the database does not vouch for it); only the
    `ftp_server` service asks, and ids of another shape are 422, ledgered."""
    c.ftp_login.server_only(who)
    ids.check(
        c, who, Action.ENTER,
        session_id=ref.session_id, customer_id=ref.customer_id,
        contract_id=ref.contract_id, service_id=ref.service_id,
    )  # fmt: skip
    return c.ftp_login.resume(who, ref.ref())


def _denied(exc: Exception) -> FtpLoginDenied:
    """What the server needs for its reply, never the refusal's text (the ledger has it)."""
    if isinstance(exc, Refused):
        return FtpLoginDenied(allow=False, kind="refused", rule=exc.decision.rule_id)
    if isinstance(exc, RateLimited):
        return FtpLoginDenied(allow=False, kind="rate_limited")
    return FtpLoginDenied(allow=False, kind="failed")
