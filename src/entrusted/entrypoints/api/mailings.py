"""`/v1/mailings`: the communications role composes a mailing with one purpose and sends it
(P6, P7); `POST /v1/mailings/unsubscribe?token=…` is the one-click unsubscribe of RFC 8058,
with no login (the token is the proof); `GET` on the same link (a person's browser, or a mail
scanner prefetching it) only answers a page whose button posts it, and changes nothing.
Answers name customers by id, never by address."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from entrusted.domain.mailings import (
    MAX_BODY,
    MAX_SUBJECT,
    THIRD_PARTY_FIELDS,
    Delivery,
    Mailing,
    Progress,
)
from entrusted.entrypoints.api import ids
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.mailings import MailingDraft

router = APIRouter(prefix="/v1/mailings", tags=["mailings"])


class MailingIn(StrictIn):
    """Unknown fields are refused (422). `sponsor`, `on_behalf_of`, `third_party`, `partner`
    and `advertiser` are named so that a request carrying one (with any value, even empty or
    null) is refused *and ledgered*. The text's bounds here are a generous cap on the
    request's size; the service checks (and ledgers) the real ones."""

    purpose: str | None = Field(
        default=None, max_length=32, description="incident, new_service or terms_amendment"
    )
    subject: str = Field(max_length=4 * MAX_SUBJECT)
    body: str = Field(max_length=4 * MAX_BODY)
    services: list[str] = Field(
        default_factory=list, max_length=500, description="The services an incident affects"
    )
    recipients: list[str] | None = Field(
        default=None,
        max_length=100_000,
        description="Customer ids narrowing the purpose's audience (never widening it)",
    )
    sender: str | None = Field(default=None, max_length=320, description="The provider's only")
    sponsor: str | None = Field(default=None, max_length=200, description="Always refused (P6)")
    on_behalf_of: str | None = Field(default=None, max_length=200, description="Always refused")
    third_party: str | None = Field(default=None, max_length=200, description="Always refused")
    partner: str | None = Field(default=None, max_length=200, description="Always refused")
    advertiser: str | None = Field(default=None, max_length=200, description="Always refused")


class ProgressOut(BaseModel):
    total: int
    sent: int
    refused: int
    pending: int
    unknown: int = Field(description="Left in flight by a run that died: never sent again")

    @classmethod
    def of(cls, p: Progress) -> ProgressOut:
        return cls(total=p.total, sent=p.sent, refused=p.refused, pending=p.pending,
                   unknown=p.unknown)  # fmt: skip


class MailingOut(BaseModel):
    id: str
    purpose: str
    subject: str
    status: str
    services: list[str]
    recipients: int
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, m: Mailing) -> MailingOut:
        return cls(id=m.id, purpose=m.purpose.value, subject=m.subject, status=m.status.value,
                   services=list(m.services), recipients=m.recipients, created_by=m.created_by,
                   created_at=m.created_at)  # fmt: skip


class DeliveryOut(BaseModel):
    customer_id: str
    status: str
    attempts: int
    error: str | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(customer_id=d.customer_id, status=d.status.value, attempts=d.attempts,
                   error=d.error)  # fmt: skip


class MailingDetailOut(MailingOut):
    progress: ProgressOut
    problems: list[DeliveryOut]


class SentOut(BaseModel):
    id: str
    progress: ProgressOut
    stopped: str | None = Field(description="Why the run ended early; send again to resume")
    problems: list[DeliveryOut]


@router.post("", status_code=201, response_model=MailingOut, summary="Compose a mailing")
def compose(body: MailingIn, who: ActorDep, c: ContainerDep) -> MailingOut:
    third = {k: getattr(body, k) or "" for k in THIRD_PARTY_FIELDS if k in body.model_fields_set}
    draft = MailingDraft(
        body.purpose, body.subject, body.body, tuple(body.services),
        None if body.recipients is None else tuple(body.recipients), body.sender, third,
    )  # fmt: skip
    return MailingOut.of(c.mailings.compose.compose(who, draft))


@router.get("", response_model=list[MailingOut], summary="Recent mailings")
def recent(who: ActorDep, c: ContainerDep) -> list[MailingOut]:
    return [MailingOut.of(m) for m, _ in c.mailings.compose.recent(who)]


@router.post("/unsubscribe", summary="One-click unsubscribe from new-service mailings")
def unsubscribe(
    c: ContainerDep, token: Annotated[str, Query(min_length=1, max_length=128)]
) -> dict[str, str]:
    c.mailings.sender.unsubscribe(token)
    return {"status": "unsubscribed from new-service mailings"}


_UNSUBSCRIBE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unsubscribe</title>
<meta name="robots" content="noindex"></head>
<body><h1>Unsubscribe from new-service mailings</h1>
<p>We will no longer write to you about new services. Notices about incidents on your services
and changes to our terms still reach you.</p>
<form method="post" action="unsubscribe?token={token}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form></body></html>
"""


@router.get(
    "/unsubscribe", response_class=HTMLResponse, summary="The unsubscribe link opened in a browser"
)
def unsubscribe_page(
    token: Annotated[str, Query(min_length=1, max_length=128)],
) -> HTMLResponse:
    """A page with one button that posts the link; opening it (or a scanner fetching it)
    unsubscribes nobody."""
    return HTMLResponse(_UNSUBSCRIBE_PAGE.format(token=escape(quote(token, safe=""))))


@router.get("/{mailing_id}", response_model=MailingDetailOut, summary="A mailing's progress")
def detail(mailing_id: ids.MailingId, who: ActorDep, c: ContainerDep) -> MailingDetailOut:
    view = c.mailings.compose.view(who, mailing_id)
    base = MailingOut.of(view.mailing).model_dump()
    return MailingDetailOut(**base, progress=ProgressOut.of(view.progress),
                            problems=[DeliveryOut.of(d) for d in view.problems])  # fmt: skip


@router.post("/{mailing_id}/send", response_model=SentOut, summary="Send or resume a mailing")
def send(mailing_id: ids.MailingId, who: ActorDep, c: ContainerDep) -> SentOut:
    report = c.mailings.sender.send(who, mailing_id)
    return SentOut(id=report.mailing_id, progress=ProgressOut.of(report.progress),
                   stopped=report.stopped,
                   problems=[DeliveryOut.of(d) for d in report.problems])  # fmt: skip
