"""My details (`/portal/details`): the customer reads and corrects their own record, and
opens the link that confirms a new contact address (`/portal/email#token=…`).

The same service calls as `GET/PATCH /v1/customers/{id}` and `POST
/v1/customers/email-confirmation`: the gate decides and the ledger records. Only the fields
the customer changed are sent, so an unchanged form asks nothing. A new e-mail address waits
for the link mailed to it (the service keeps the old one in force and tells it); the page
says so. Bad input re-renders the form with the service's message (422), nothing written.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from entrusted.domain.policy import Actor
from entrusted.domain.registry import LANGUAGES, CustomerRecord
from entrusted.entrypoints.web.forms import Token, posted
from entrusted.entrypoints.web.pages import LANGUAGE_NAMES
from entrusted.entrypoints.web.portal import me
from entrusted.entrypoints.web.sessions import PORTAL, check_form, container_of, require
from entrusted.errors import InvalidInput

router = APIRouter()
Name = Annotated[str, Form(max_length=200)]
Email = Annotated[str, Form(max_length=320)]
Phone = Annotated[str, Form(max_length=40)]
Short = Annotated[str, Form(max_length=64)]
FIELDS = ("last_name", "first_name", "email", "phone", "mobile", "language", "time_zone")


@cache
def zones() -> list[str]:
    return sorted(available_timezones())


def _current(found: CustomerRecord) -> dict[str, str]:
    d = found.details
    values = (d.last_name, d.first_name, d.email, d.phone, d.mobile, found.language,
              found.time_zone)  # fmt: skip
    return {name: value or "" for name, value in zip(FIELDS, values, strict=True)}


def _show(
    request: Request, actor: Actor, values: dict[str, str], status: int = 200, **extra: object
) -> Response:
    """The form holding `values`, and the new address still waiting for its link, if any."""
    c = container_of(request)
    context = {
        "values": values,
        "in_force": me.record(request, actor).details.email,
        "pending": c.registry.emails.pending(actor, actor.id),
        "languages_offered": {code: LANGUAGE_NAMES[code] for code in LANGUAGES},
        "zones": zones(),
        "default_zone": c.settings.default_time_zone,
        **extra,
    }
    return me.page(request, actor, "portal/details.html", context, status=status)


@router.get("/details")
def details(request: Request) -> Response:
    actor = require(request, PORTAL)
    return _show(request, actor, _current(me.record(request, actor)))


@router.post("/details")
def correct(
    request: Request,
    last_name: Name = "",
    first_name: Name = "",
    email: Email = "",
    phone: Phone = "",
    mobile: Phone = "",
    language: Short = "",
    time_zone: Short = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, PORTAL, csrf)
    current = _current(me.record(request, actor))
    sent = dict(zip(FIELDS, (last_name, first_name, email, phone, mobile, language, time_zone),
                    strict=True))  # fmt: skip
    changes: dict[str, str | None] = {
        k: v.strip() or None for k, v in sent.items() if v.strip() != current[k]
    }
    if not changes:
        return _show(request, actor, current, same=True)
    try:
        updated = container_of(request).registry.correct(actor, actor.id, changes)
    except InvalidInput as exc:
        return _show(request, actor, sent, 422, error=exc.message, field=exc.field)
    request.state.my_record = updated  # the page now speaks the language just chosen
    return _show(request, actor, _current(updated), saved=True)


@router.get("/email")
def email_form(request: Request) -> Response:
    return me.visitor_page(request, "portal/email.html")


@router.post("/email")
def confirm_email(request: Request, token: Annotated[str, Form(max_length=200)] = "",
                  csrf: Token = None) -> Response:  # fmt: skip
    check_form(request, PORTAL, csrf)
    if not token:
        raise InvalidInput("token", "open the link from the e-mail we sent to the new address")
    container_of(request).registry.confirm_email(token)
    request.state.my_record = None  # the address just changed: read the record afresh
    return me.visitor_page(request, "portal/email.html", {"done": True})
