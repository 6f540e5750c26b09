"""Asking for consent on a case from the console (P9, P10, P11): an access request, whose
single-use link is e-mailed to the contract holder, and the identified caller's verbal
consent, read back to them on the phone.

The same service calls as `POST /v1/access-requests` and `POST /v1/cases/{id}/verbal-consent`.
The services decide (the gate, the case's state, the caller's identification by this agent on
this case) and ledger; the page shows their answer, a refusal with its rule. The case page
then shows the request's status: pending until the customer approves or denies.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.domain.policy import Action, Actor
from entrusted.entrypoints.web.console.cases import case_page
from entrusted.entrypoints.web.console.support import (
    Check,
    IdField,
    Sessions,
    Text,
    Token,
    checked,
)
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.sessions import CONSOLE, container_of

router = APIRouter()


def _asking(request: Request, case_id: str, service_id: str, csrf: str | None) -> tuple[Actor, str]:
    """The agent and the service of a consent asked on a case: both kinds of consent name
    the case and the service, and both ids are checked before the service is asked."""
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.CREATE, "case_id", case_id)
    return actor, checked(request, actor, Action.CREATE, "service_id", service_id.strip())


@router.post("/cases/{case_id}/access-requests")
def request_access(
    request: Request,
    case_id: str,
    service_id: IdField = "",
    justification: Text = "",
    read_only: Check = False,
    sessions: Sessions = 1,
    csrf: Token = None,
) -> Response:
    actor, service = _asking(request, case_id, service_id, csrf)
    container_of(request).consent.request(
        actor, case_id, service, justification, read_only=read_only, sessions=sessions
    )
    return case_page(case_id)


@router.post("/cases/{case_id}/verbal-consent")
def verbal_consent(
    request: Request,
    case_id: str,
    service_id: IdField = "",
    read_back: Check = False,
    read_only: Check = False,
    sessions: Sessions = 1,
    csrf: Token = None,
) -> Response:
    actor, service = _asking(request, case_id, service_id, csrf)
    container_of(request).verbal_consent.record(
        actor, case_id, service, read_back=read_back, read_only=read_only, sessions=sessions
    )
    return case_page(case_id)
