"""Why a support look is asked (P1): the open case or the helpdesk ticket that finding a
caller, identifying them, reading their page and a service's metadata each name.

One definition, so every such page checks the case's id the same way (a malformed one is a
ledgered 422, see `web.ids`), ledgers the ticket the same way, and carries both on to the
next form: the agent names the reason once, and each following look names it again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from starlette.requests import Request

from entrusted.domain.policy import Action, Actor
from entrusted.entrypoints.web.console.support import blank, optional
from entrusted.services.gate import AccessContext

# The case id or the ticket a form names (a ticket is the helpdesk's, free text).
Reason = Annotated[str, Form(max_length=64)]


def reason(
    request: Request, actor: Actor, action: Action, case_id: str | None, ticket: str | None
) -> AccessContext:
    """The case (empty: none; else a checked id) and the ticket (empty: none) of a look."""
    case = optional(request, actor, action, "case_id", case_id)
    return AccessContext(case_id=case, ticket=blank(ticket))


def carried(why: AccessContext) -> dict[str, str]:
    """The reason as the next form's fields hold it ("": none given)."""
    return {"case_id": why.case_id or "", "ticket": why.ticket or ""}
