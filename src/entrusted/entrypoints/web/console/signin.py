"""Signing staff in and out of the console: password and TOTP code, as the API's login
(`StaffService.login`: one answer whatever was wrong, rate-limited per account and address)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.entrypoints.web.pages import render, sections
from entrusted.entrypoints.web.sessions import (
    CONSOLE,
    check_form,
    container_of,
    require,
    safe_next,
    signed_in,
    signed_in_answer,
    signed_out_answer,
)
from entrusted.errors import AuthenticationFailed

router = APIRouter()
Field = Annotated[str, Form(max_length=500)]
Optional = Annotated[str | None, Form(max_length=200)]


@router.get("/")
def home(request: Request) -> Response:
    actor = require(request, CONSOLE)
    roles = sorted(r.value for r in actor.roles)
    return render(
        request, CONSOLE, "console/home.html", {"roles": roles, "sections": sections(CONSOLE)}
    )


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    if signed_in(request, CONSOLE) is not None:
        return RedirectResponse(safe_next(CONSOLE, next), 303)
    return render(request, CONSOLE, "console/signin.html", {"next": safe_next(CONSOLE, next)})


@router.post("/signin")
def signin(
    request: Request,
    username: Field,
    password: Field,
    totp: Optional = None,
    csrf: Optional = None,
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
def signout(request: Request, csrf: Optional = None) -> Response:
    check_form(request, CONSOLE, csrf)
    return signed_out_answer(request, CONSOLE)
