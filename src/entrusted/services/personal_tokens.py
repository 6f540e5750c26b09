"""Personal API tokens asked for over the API (P8, P12): only staff members hold them. A
customer or a service asking is refused *and ledgered*, like every other refusal, so an
attempt to mint a long-lived credential outside the staff is evidence, not a silent 403.

```python
issued = issue_personal_token(staff, gate, support, "laptop", ttl_days=30)
issued.secret                        # shown once
```
"""

from __future__ import annotations

from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.staff import StaffService
from entrusted.services.staff_admin import IssuedToken


def issue_personal_token(
    staff: StaffService,
    gate: Gate,
    actor: Actor,
    label: str,
    ttl_days: int | None,
    totp_code: str | None = None,
) -> IssuedToken:
    """A personal token for the staff member `actor`; anyone else gets a ledgered refusal."""
    if actor.kind is not ActorKind.STAFF:
        OutcomeRecorder(gate).refuse(
            actor,
            Action.CREATE,
            Resource(ResourceKind.STAFF_ACCOUNT, actor.id),
            Outcome.TOKENS_STAFF_ONLY,
            "only staff members hold personal tokens",
            AccessContext(note="personal token"),
        )
    return staff.issue_token_for(actor.id, label, ttl_days, totp_code)
