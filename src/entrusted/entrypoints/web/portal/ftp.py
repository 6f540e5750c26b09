"""FTP password (`/portal/ftp`): the customer sets the login password of their own FTP backup
space (P9) — `PUT /v1/ftp-spaces/{service_id}/password`'s call. The rules let the space's
holder alone set it; the password rules are shown beside the field, and the password is never
written back into a page (not even after a refusal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from entrusted.domain.policy import Action, Actor
from entrusted.domain.registry import ServiceKind
from entrusted.domain.staff import MIN_PASSWORD_LENGTH
from entrusted.entrypoints.web.ids import checked
from entrusted.entrypoints.web.portal import me
from entrusted.entrypoints.web.sessions import PORTAL, check_form, container_of, require
from entrusted.errors import InvalidInput

router = APIRouter()


def _spaces(request: Request, actor: Actor) -> list[tuple[str, str, str, bool]]:
    """(service id, name, contract id, contract active) of each FTP space the customer holds."""
    held = container_of(request).contracts.held_by(actor, actor.id)
    return [
        (s.id, s.name, c.id, c.status.value == "active")
        for c in held
        for s in c.services
        if s.kind is ServiceKind.FTP_SPACE
    ]


def _page(request: Request, actor: Actor, status: int = 200, **extra: object) -> Response:
    context = {"spaces": _spaces(request, actor), "min_length": MIN_PASSWORD_LENGTH, **extra}
    return me.page(request, actor, "portal/ftp.html", context, status=status)


@router.get("/ftp")
def ftp(request: Request) -> Response:
    return _page(request, require(request, PORTAL))


@router.post("/ftp")
def set_password(
    request: Request,
    service_id: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    check_form(request, PORTAL, csrf)
    actor = require(request, PORTAL)
    c = container_of(request)
    checked(request, actor, Action.UPDATE, "service_id", service_id)
    try:
        c.ftp_passwords.set(actor, service_id, password)
    except InvalidInput as exc:
        return _page(request, actor, 422, error=exc.message, service=service_id)
    return _page(request, actor, done=service_id)
