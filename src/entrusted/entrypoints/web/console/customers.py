"""Finding a caller (`/console/customers/find`) and a caller's page (`/console/customers/{id}`).

The same service calls as `POST /v1/customers/search` and `GET /v1/customers/{id}/summary`:
a look-up names an open case or a helpdesk ticket (P1), is throttled and ledgered, and shows
masked hints until the caller is identified, then the name and the contracts. The search is a
POST so the e-mail address or phone number typed never lands in a URL or an access log.
The page never decides: a refusal reaches the error page with its rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from entrusted.domain.policy import Action
from entrusted.entrypoints.web.console.reasons import Reason, carried, reason
from entrusted.entrypoints.web.console.support import Token, checked
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.errors import InvalidInput

router = APIRouter()
FINDERS = {
    "email": "E-mail address",
    "phone": "Phone number",
    "mailbox": "Hosted mailbox address",
    "domain": "Domain",
    "customer_number": "Customer number",
}
Value = Annotated[str, Form(max_length=320)]


def _form(values: dict[str, str], **extra: object) -> dict[str, object]:
    return {"finders": FINDERS, "values": values, **extra}


@router.get("/customers/find")
def find_form(request: Request) -> Response:
    require(request, CONSOLE)
    return render(request, CONSOLE, "console/find.html", _form({"by": "email"}))


@router.post("/customers/find")
def find(
    request: Request,
    by: Annotated[str, Form(max_length=20)] = "email",
    value: Value = "",
    case_id: Reason = "",
    ticket: Reason = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    values = {"by": by, "value": value, "case_id": case_id, "ticket": ticket}
    if by not in FINDERS or not value.strip():
        page = _form(values, error="choose what to search by and type what the caller said",
                     field="value")  # fmt: skip
        return render(request, CONSOLE, "console/find.html", page, status=422)
    try:
        context = reason(request, actor, Action.IDENTIFY, case_id, ticket)
        given = {how: value.strip() if how == by else None for how in FINDERS}
        found = container_of(request).registry.find(
            actor, email=given["email"], phone=given["phone"], context=context,
            mailbox=given["mailbox"], domain=given["domain"],
            customer_number=given["customer_number"],
        )  # fmt: skip
    except InvalidInput as exc:
        page = _form(values, error=exc.message, field=exc.field)
        return render(request, CONSOLE, "console/find.html", page, status=422)
    return render(request, CONSOLE, "console/find.html", _form(values, found=found, done=True))


@router.get("/customers/{customer_id}")
def customer(
    request: Request,
    customer_id: str,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    actor = require(request, CONSOLE)
    checked(request, actor, Action.IDENTIFY, "customer_id", customer_id)
    context = reason(request, actor, Action.IDENTIFY, case_id, ticket)
    view = container_of(request).registry.summary(actor, customer_id, context)
    return render(request, CONSOLE, "console/customer.html", {"view": view, **carried(context)})
