"""What the sysadmin, legal and communications pages share: the check an id from a path or a
form goes through before a service sees it (a malformed id is a ledgered 422, named
`invalid` in the ledger, never the text sent), and the form field types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from starlette.requests import Request

from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.policy import Action, Actor, ResourceKind
from entrusted.entrypoints.web.sessions import container_of
from entrusted.services.outcomes import OutcomeRecorder

Token = Annotated[str | None, Form(max_length=200)]
Line = Annotated[str, Form(max_length=200)]

KINDS: dict[str, tuple[IdKind, ResourceKind]] = {
    "backup_id": (IdKind.BACKUP, ResourceKind.BACKUP),
    "case_id": (IdKind.CASE, ResourceKind.CASE),
    "customer_id": (IdKind.CUSTOMER, ResourceKind.DISCLOSURE),
    "mailing_id": (IdKind.MAILING, ResourceKind.MAILING),
    "order_id": (IdKind.COURT_ORDER, ResourceKind.DISCLOSURE),
    "request_id": (IdKind.THIRD_PARTY_REQUEST, ResourceKind.DISCLOSURE),
    "disclosure_id": (IdKind.DISCLOSURE, ResourceKind.DISCLOSURE),
}


def checked(request: Request, actor: Actor, action: Action, field: str, value: str) -> str:
    """`value` if it has the shape of the id `field` names; else a ledgered 422."""
    id_kind, resource_kind = KINDS[field]
    if not is_id(id_kind, value):
        OutcomeRecorder(container_of(request).gate).invalid_id(
            actor, action, resource_kind, field, id_kind
        )
    return value


def id_list(request: Request, actor: Actor, action: Action, field: str, text: str) -> list[str]:
    """Ids typed one per line or separated by commas or spaces, each checked."""
    found = [part for part in text.replace(",", " ").split() if part]
    return [checked(request, actor, action, field, part) for part in found]


def blank(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None
