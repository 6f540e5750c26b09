"""Staff sessions and personal tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.personal_tokens import issue_personal_token

router = APIRouter(prefix="/v1", tags=["staff"])


class LoginIn(StrictIn):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, max_length=10, description="TOTP code, once enrolled")


class TokenOut(BaseModel):
    id: str
    token: str = Field(description="Shown once; store it now.")
    expires_at: datetime


class MeOut(BaseModel):
    kind: str
    id: str
    roles: list[str]


@router.post(
    "/auth/login", response_model=TokenOut, summary="Exchange a password for a session token"
)
def login(body: LoginIn, request: Request, c: ContainerDep) -> TokenOut:
    address = request.client.host if request.client else "unknown"
    issued = c.staff.login(body.username, body.password, body.totp, address)
    return TokenOut(id=issued.token.id, token=issued.secret, expires_at=issued.token.expires_at)


@router.get("/me", response_model=MeOut, summary="Who the bearer token stands for")
def me(who: ActorDep) -> MeOut:
    return MeOut(kind=who.kind.value, id=who.id, roles=sorted(r.value for r in who.roles))


class TokenIn(StrictIn):
    label: str = Field(min_length=1, max_length=200)
    ttl_days: int | None = Field(
        default=None, ge=1, le=3650, description="At most the `token_max_ttl_days` setting."
    )
    totp: str | None = Field(
        default=None, max_length=10, description="A fresh TOTP code: a session alone cannot mint"
    )


@router.post(
    "/tokens", response_model=TokenOut, status_code=201, summary="Create a personal API token"
)
def create_token(body: TokenIn, who: ActorDep, c: ContainerDep) -> TokenOut:
    issued = issue_personal_token(c.staff, c.gate, who, body.label, body.ttl_days, body.totp)
    return TokenOut(id=issued.token.id, token=issued.secret, expires_at=issued.token.expires_at)
