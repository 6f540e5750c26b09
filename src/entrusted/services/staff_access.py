"""The consent area's reaction to staff changes (P8, P11): a disabled staff member, or one
who lost a role, keeps no grant. Ending a grant runs the grant-ended path, which ledgers
the end, ends the mailbox's live sessions at the mail server and tells the customer."""

from __future__ import annotations

from entrusted.domain.cases import GrantEnd
from entrusted.services.events import EventBus, StaffDisabled, StaffRolesRemoved
from entrusted.services.grants import GrantService
from entrusted.services.ports import ConsentUnitOfWorkFactory


class EndStaffGrants:
    def __init__(self, grants: GrantService, uow: ConsentUnitOfWorkFactory) -> None:
        self._grants = grants
        self._uow = uow

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(StaffDisabled, self.staff_disabled)
        bus.subscribe(StaffRolesRemoved, self.roles_removed)

    def staff_disabled(self, event: StaffDisabled) -> None:
        self._end(event.staff_id, event, GrantEnd.STAFF_DISABLED)

    def roles_removed(self, event: StaffRolesRemoved) -> None:
        # Every grant ends, not only those a removed role needed: consent was given to a
        # person acting in the role they held then, and a narrower one is a new request.
        self._end(event.staff_id, event, GrantEnd.ROLE_REMOVED)

    def _end(self, staff_id: str, event: StaffDisabled | StaffRolesRemoved, why: GrantEnd) -> None:
        with self._uow() as uow:
            live = [g for g in uow.grants.active() if g.staff_id == staff_id]
        self._grants.end_grants(event.by, live, why)
