"""Signing staff in and out of the console: password and TOTP code, as the API's login
(`StaffService.login`: one answer whatever was wrong, rate-limited per account and address)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.entrypoints.web.console.names import staff_names
from entrusted.entrypoints.web.forms import Field, Token, signin_page
from entrusted.entrypoints.web.pages import render, sections
from entrusted.entrypoints.web.sessions import (
    CONSOLE,
    check_form,
    container_of,
    require,
    safe_next,
    signed_in_answer,
    signed_out_answer,
)
from entrusted.errors import AuthenticationFailed

router = APIRouter()


@router.get("/")
def home(request: Request) -> Response:
    actor = require(request, CONSOLE)
    roles = sorted(r.value for r in actor.roles)
    names = staff_names(container_of(request), [actor.id])
    context = {"roles": roles, "sections": sections(CONSOLE), "names": names}
    return render(request, CONSOLE, "console/home.html", context)


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    return signin_page(request, CONSOLE, next)


@router.post("/signin")
def signin(
    request: Request,
    username: Field,
    password: Field,
    totp: Token = None,
    csrf: Token = None,
    next: Field = "",  # noqa: A002
) -> Response:
    check_form(request, CONSOLE, csrf)
    address = request.client.host if request.client else "unknown"
    try:
        issued = container_of(request).staff.login(username, password, totp or None, address)
    except AuthenticationFailed:
        context = {"next": safe_next(CONSOLE, next), "failed": True, "username": username}
        return render(request, CONSOLE, "console/signin.html", context, status=401)
    return signed_in_answer(request, CONSOLE, issued.secret, next)


@router.post("/signout")
def signout(request: Request, csrf: Token = None) -> Response:
    check_form(request, CONSOLE, csrf)
    return signed_out_answer(request, CONSOLE)
