"""Identifying a caller from the console (P1): start an identification (a one-time code to the
e-mail address or mobile number on file, or the customer's confirmation from their portal
session), then check the code the caller reads back.

The same service calls as `POST /v1/identifications` and `.../{id}/verify`; the customer's own
confirmation (`.../confirm`) is theirs to make from the portal, so for that method the page
says to wait and the case page shows when it is verified. A wrong or expired code re-renders
the form with the service's message (422); the attempt is counted and ledgered by it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.policy import Action
from entrusted.entrypoints.web.console.reasons import Reason, carried, reason
from entrusted.entrypoints.web.console.support import IdField, Token, checked, optional
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of
from entrusted.errors import InvalidInput

router = APIRouter()
Code = Annotated[str, Form(max_length=16)]


@router.post("/identifications")
def start(
    request: Request,
    customer_id: IdField = "",
    method: Annotated[str, Form(max_length=16)] = "",
    contract_id: IdField = "",
    case_id: Reason = "",
    ticket: Reason = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    customer = checked(request, actor, Action.IDENTIFY, "customer_id", customer_id)
    contract = optional(request, actor, Action.IDENTIFY, "contract_id", contract_id)
    why = reason(request, actor, Action.IDENTIFY, case_id, ticket)
    started = container_of(request).identification.start(
        actor, customer, method, contract_id=contract, case_id=why.case_id
    )
    context = {"ident": started, **carried(why)}
    return render(request, CONSOLE, "console/identification.html", context, status=201)


@router.post("/identifications/{identification_id}/verify")
def verify(
    request: Request,
    identification_id: str,
    code: Code = "",
    case_id: Reason = "",
    ticket: Reason = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.IDENTIFY, "identification_id", identification_id)
    why = reason(request, actor, Action.IDENTIFY, case_id, ticket)
    c = container_of(request)
    try:
        done = c.identification.verify(actor, identification_id, code.strip())
    except InvalidInput as exc:
        context = {"verify_id": identification_id, **carried(why), "error": exc.message}
        return render(request, CONSOLE, "console/identification.html", context, status=422)
    if done.case_id:
        return RedirectResponse(f"{CONSOLE.path}/cases/{done.case_id}", 303)
    back = f"{CONSOLE.path}/customers/{done.customer_id}"
    query = f"?{urlencode({'ticket': why.ticket})}" if why.ticket else ""
    return RedirectResponse(back + query, 303)
