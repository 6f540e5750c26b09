"""What the support agent's console pages share: the form field types, and the check every id
from a path or a form goes through before a service sees it.

Why the id check here and not in each page: ids typed or pasted by an agent reach the ledger
as resource ids; text of another shape (an e-mail address in the case field) is refused and
ledgered under the placeholder `invalid` (`OutcomeRecorder.invalid_id`, as the API's
`ids.check`), never written as sent. A malformed id is a 422 page, never a 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from starlette.requests import Request

from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.policy import Action, Actor, ResourceKind
from entrusted.entrypoints.web.sessions import container_of
from entrusted.services.outcomes import OutcomeRecorder

Token = Annotated[str | None, Form(max_length=200)]
IdField = Annotated[str, Form(max_length=64)]
Text = Annotated[str, Form(max_length=500)]
Check = Annotated[bool, Form()]
Sessions = Annotated[int, Form(ge=1, le=20)]

# Which kind of id each field holds, and what it names, for the ledgered refusal.
KINDS: dict[str, tuple[IdKind, ResourceKind]] = {
    "customer_id": (IdKind.CUSTOMER, ResourceKind.PERSONAL_DETAILS),
    "contract_id": (IdKind.CONTRACT, ResourceKind.CONTRACT),
    "service_id": (IdKind.SERVICE, ResourceKind.CONTRACT),
    "case_id": (IdKind.CASE, ResourceKind.CASE),
    "identification_id": (IdKind.IDENTIFICATION, ResourceKind.PERSONAL_DETAILS),
}


def checked(request: Request, actor: Actor, action: Action, field: str, value: str) -> str:
    """`value` if it has the shape of the id `field` names; else a ledgered 422."""
    id_kind, resource_kind = KINDS[field]
    if not is_id(id_kind, value):
        OutcomeRecorder(container_of(request).gate).invalid_id(
            actor, action, resource_kind, field, id_kind
        )
    return value


def optional(
    request: Request, actor: Actor, action: Action, field: str, value: str | None
) -> str | None:
    """An optional id from a form or query: empty means none; otherwise it must be an id."""
    text = (value or "").strip()
    return checked(request, actor, action, field, text) if text else None


def blank(value: str | None) -> str | None:
    """A free-text field left empty is no value."""
    text = (value or "").strip()
    return text or None
