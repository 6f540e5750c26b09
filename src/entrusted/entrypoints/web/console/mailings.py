"""Mailings in the console (P6, P7): compose one (incident, new service or terms amendment;
everyone the purpose reaches, the holders of named services, or named customers), see whom
it will reach before anything is sent (a count per language and of those left out, never an
address: communications has no access to customers' data), send it, and watch its progress:
the calls `/v1/mailings` makes (`compose`, `view`, `recent`, `send`), each asking the gate
and ledgering. Only communications passes `communications-mails-own-customers`; anyone else
gets the refusal page. The progress fragment is re-fetched by /static/progress.js (2 s,
doubling up to 30 s; paused while the tab is hidden; stopped once done): each fetch is a
ledgered view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.mailings import MAX_BODY, MAX_SUBJECT, MailPurpose
from entrusted.domain.policy import Action
from entrusted.entrypoints.web.console.names import staff_names
from entrusted.entrypoints.web.console.support import Token, blank, checked
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.services.mailings import MailingDraft

router = APIRouter()
PURPOSES = [MailPurpose.INCIDENT, MailPurpose.NEW_SERVICE, MailPurpose.TERMS_AMENDMENT]


def _ids(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.replace(",", " ").split() if part)


@router.get("/mailings")
def mailings(request: Request) -> Response:
    actor = require(request, CONSOLE)
    recent = container_of(request).mailings.compose.recent(actor)
    context = {"recent": recent, "purposes": [p.value for p in PURPOSES],
               "max_subject": MAX_SUBJECT, "max_body": MAX_BODY}  # fmt: skip
    return render(request, CONSOLE, "console/admin/mailings.html", context)


@router.post("/mailings")
def compose(
    request: Request,
    purpose: Annotated[str, Form(max_length=32)] = "",
    subject: Annotated[str, Form(max_length=4 * MAX_SUBJECT)] = "",
    body: Annotated[str, Form(max_length=4 * MAX_BODY)] = "",
    services: Annotated[str, Form(max_length=20_000)] = "",
    recipients: Annotated[str, Form(max_length=200_000)] = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    named = _ids(recipients) if blank(recipients) else None
    draft = MailingDraft(blank(purpose), subject, body, _ids(services), named)
    mailing = container_of(request).mailings.compose.compose(actor, draft)
    return RedirectResponse(f"{CONSOLE.path}/mailings/{mailing.id}", 303)


@router.get("/mailings/{mailing_id}")
def mailing(request: Request, mailing_id: str) -> Response:
    actor = require(request, CONSOLE)
    checked(request, actor, Action.READ, "mailing_id", mailing_id)
    c = container_of(request)
    view, breakdown = c.mailings.compose.preview(actor, mailing_id)
    names = staff_names(c, [view.mailing.created_by])
    context = {"view": view, "names": names, "breakdown": breakdown}
    return render(request, CONSOLE, "console/admin/mailing.html", context)


@router.get("/mailings/{mailing_id}/progress")
def progress(request: Request, mailing_id: str) -> Response:
    """The progress table alone: what progress.js swaps into the mailing's page."""
    actor = require(request, CONSOLE)
    checked(request, actor, Action.READ, "mailing_id", mailing_id)
    view = container_of(request).mailings.compose.view(actor, mailing_id)
    return render(request, CONSOLE, "console/admin/mailing_progress.html", {"view": view})


@router.post("/mailings/{mailing_id}/send")
def send(request: Request, mailing_id: str, csrf: Token = None) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.MAIL, "mailing_id", mailing_id)
    container_of(request).mailings.sender.send(actor, mailing_id)
    return RedirectResponse(f"{CONSOLE.path}/mailings/{mailing_id}", 303)
