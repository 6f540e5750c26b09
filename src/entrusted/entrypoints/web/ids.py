"""The one check every id from a page's path, query or form goes through before a service
sees it, for the portal and the console alike. Text of another shape (an e-mail address in
the case field) is refused — a ledgered 422 under the placeholder `invalid`
(`OutcomeRecorder.invalid_id`), never written as sent — with the field's kind of id and
resource kind from the table the API uses too (`services.id_fields`)."""

from __future__ import annotations

from starlette.requests import Request

from entrusted.domain.ids import is_id
from entrusted.domain.policy import Action, Actor
from entrusted.entrypoints.web.sessions import container_of
from entrusted.services.id_fields import FIELDS
from entrusted.services.outcomes import OutcomeRecorder


def checked(request: Request, actor: Actor, action: Action, field: str, value: str) -> str:
    """`value` if it has the shape of the id `field` names (see `FIELDS`); else a ledgered
    422."""
    id_kind, resource_kind = FIELDS[field]
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


def id_list(request: Request, actor: Actor, action: Action, field: str, text: str) -> list[str]:
    """Ids typed one per line or separated by commas or spaces, each checked."""
    found = [part for part in text.replace(",", " ").split() if part]
    return [checked(request, actor, action, field, part) for part in found]
