"""Forms posted to the pages without the token their own page carried (cross-site request
forgery): refused, and the refusal ledgered like any other (P2: details are protected against
change by anyone but their holder; P14: every attempt is on record).

Why a service: the pages are an entrypoint and never write the ledger themselves; the check
of the token is the page's (it owns the cookie), the record of the refusal is this.

```python
FormGuard(gate).refuse(actor, "/portal/details")   # ledgers web.form-forged, raises Refused
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.services.outcomes import Outcome, OutcomeRecorder

if TYPE_CHECKING:
    from entrusted.services.gate import Gate

# Who posts a form without a session: the anonymous visitor of a page (sign-in, reset).
ANONYMOUS = Actor(ActorKind.PUBLIC, "web-visitor")
_MAX_PATH = 64


@dataclass(frozen=True, slots=True)
class FormGuard:
    gate: Gate

    def refuse(self, actor: Actor | None, path: str) -> NoReturn:
        """Ledger `web.form-forged` for the form at `path` (its route, never its fields),
        then raise `Refused`."""
        where = "".join(ch for ch in path if ch.isprintable())[:_MAX_PATH] or "/"
        OutcomeRecorder(self.gate).refuse(
            actor or ANONYMOUS,
            Action.UPDATE,
            Resource(ResourceKind.PERSONAL_DETAILS, f"form:{where}"[:_MAX_PATH]),
            Outcome.FORM_FORGED,
            "the form did not carry the token of the page it came from (CSRF); nothing changed",
        )
