"""Who the staff are, as the console's staff page lists them (P8, P12): the list is itself a
gated, ledgered read of the staff accounts, so only a role the rules let read them (the
system administrators) sees who holds which role, and every look is on the record.

```python
members = staff_roster(staff, gate, sysadmin)
```
"""

from __future__ import annotations

from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.domain.staff import StaffMember
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.staff_admin import StaffAdmin


def staff_roster(staff: StaffAdmin, gate: Gate, actor: Actor) -> list[StaffMember]:
    """Every staff member, active first then by username, if the gate lets `actor` list them."""
    gate.decide(
        actor,
        Action.LIST,
        Resource(ResourceKind.STAFF_ACCOUNT, "*"),
        AccessContext(note="list staff members"),
    )
    return sorted(staff.list_members(), key=lambda m: (not m.active, m.username))
