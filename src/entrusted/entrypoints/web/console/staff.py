"""Staff accounts in the console (P8, P12): list the members, add one, disable one, change a
member's roles — `StaffService.add/disable/set_roles` with the signed-in member as the actor
(`by=`), so the gate decides (`sysadmin-manages-staff-accounts`) and ledgers each step, and
nobody changes their own roles. Tokens for another member, service tokens and second-factor
enrolment or reset stay with the operator at the CLI (`entrusted staff ...`): the API offers
them to nobody, so neither does this page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.policy import Role
from entrusted.entrypoints.web.console.support import Line, Token
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, check_form, container_of, require

router = APIRouter()
Username = Annotated[str, Form(max_length=64)]
Roles = Annotated[list[str], Form(max_length=len(Role))]
Password = Annotated[str, Form(max_length=1024)]
STAFF_PAGE = f"{CONSOLE.path}/staff"


@router.get("/staff")
def members(request: Request) -> Response:
    actor = require(request, CONSOLE)
    c = container_of(request)
    context = {"members": c.staff.members(actor), "roles": [r.value for r in Role]}
    return render(request, CONSOLE, "console/admin/staff.html", context)


@router.post("/staff")
def add(
    request: Request,
    username: Username = "",
    display_name: Line = "",
    roles: Roles = [],  # noqa: B006 - FastAPI copies a form default; none is shared
    password: Password = "",
    csrf: Token = None,
) -> Response:
    check_form(request, CONSOLE, csrf)
    actor = require(request, CONSOLE)
    container_of(request).staff.add(username, display_name, roles, password, by=actor)
    return RedirectResponse(STAFF_PAGE, 303)


@router.post("/staff/{username}/disable")
def disable(request: Request, username: str, csrf: Token = None) -> Response:
    check_form(request, CONSOLE, csrf)
    actor = require(request, CONSOLE)
    container_of(request).staff.disable(username[:64], by=actor)
    return RedirectResponse(STAFF_PAGE, 303)


@router.post("/staff/{username}/roles")
def set_roles(
    request: Request,
    username: str,
    roles: Roles = [],  # noqa: B006 - as above
    csrf: Token = None,
) -> Response:
    check_form(request, CONSOLE, csrf)
    actor = require(request, CONSOLE)
    container_of(request).staff.set_roles(username[:64], roles, by=actor)
    return RedirectResponse(STAFF_PAGE, 303)
