"""Staff accounts in the console (P8, P12): list the members and disable one
(`StaffService.disable` with the signed-in member as the actor, so the gate decides
(`sysadmin-manages-staff-accounts`) and ledgers it).

Adding a member and changing roles stay with the operator at the CLI (`entrusted staff add`,
`staff roles`), as in the API: the attacker trial showed that a sysadmin who may add members
from a page can add a second account holding every role (support, legal, two legal approvers
for a disclosure) and sign in as it, which undoes the separation P8 and P5 rest on. Disabling
only takes access away. Tokens and second factors are the operator's too."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.policy import Role
from entrusted.entrypoints.web.console.support import Token
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require

router = APIRouter()
STAFF_PAGE = f"{CONSOLE.path}/staff"


@router.get("/staff")
def members(request: Request) -> Response:
    actor = require(request, CONSOLE)
    c = container_of(request)
    context = {"members": c.staff.members(actor), "roles": [r.value for r in Role]}
    return render(request, CONSOLE, "console/admin/staff.html", context)


@router.post("/staff/{username}/disable")
def disable(request: Request, username: str, csrf: Token = None) -> Response:
    actor = posted(request, CONSOLE, csrf)
    container_of(request).staff.disable(username[:64], by=actor)
    return RedirectResponse(STAFF_PAGE, 303)
