"""Provisioning sync (issue 17, P1, P3, P11): the hoster's provisioning system keeps the
registry current by its own ids, through the API on every change or by a file.

- Only the `provisioning` service actor syncs (the rules permit it `create`, `update` and
  `delete` on customers and contracts and confine it there); any other actor on these paths
  is refused with `provisioning.provisioning-only`, ledgered, before anything is read.
- A batch (one API call, or a whole import file) is validated, planned, decided by the gate
  (one ledger append per kind of action, naming every id), then written in one transaction:
  all or nothing (`services/provisioning_plan.py`).
- Each change is ledgered after the commit with `provisioning.applied` or
  `provisioning.removed`, ids only. An unchanged item has its decision entry and nothing else.
- Removing a service ends every grant on it through the grant-ending code (`grants.end_in`,
  `consent.grant-ended` entries) and withdraws pending requests for it; cancelling a contract
  does the same for all its grants and requests. Both happen inside the writing transaction,
  so a failure after the commit cannot leave consent live; the registry's contract hooks run
  after it as for any cancellation.
- Every refusal is ledgered before it is raised: bad input `gate.invalid-request` (422), a
  clash with the registry or a registry changed meanwhile `provisioning.conflict` (409),
  removing what was never provisioned `provisioning.not-found` (404). Two syncs naming the
  same ids at once run one after the other (`ProvisioningRepository.serialise`).

```python
report = provisioning.sync(provisioner, [CustomerItem("K-1001", details)])
report.rows[0].change        # Change.CREATED; the same call again: Change.UNCHANGED
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from entrusted.crypto.personal import RegistryKeys
from entrusted.crypto.secrets import new_id
from entrusted.domain.cases import AccessRequest, Grant, RequestStatus
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Decision,
    Effect,
    Resource,
    ResourceKind,
    Service,
)
from entrusted.domain.provisioning import (
    Change,
    ContractCancellation,
    ContractItem,
    CustomerItem,
    Entity,
    Item,
    ServiceRemoval,
    SyncReport,
)
from entrusted.errors import Conflict, EntrustedError, InvalidInput, NotFound
from entrusted.services.contracts import ContractHook
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.grants import GrantService, end_in, grant_resource
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import Clock, ContactNormaliser
from entrusted.services.provisioning_plan import Planner, Step
from entrusted.services.provisioning_ports import CHANGED, ProvisioningUnitOfWorkFactory

Progress = Callable[[str, int, int], None]
SYNC_RESOURCE = Resource(ResourceKind.CONTRACT, "provisioning")  # names no customer


@dataclass(frozen=True)
class ProvisioningParts:
    uow: ProvisioningUnitOfWorkFactory
    read: ProvisioningUnitOfWorkFactory  # read-only units, for planning
    gate: Gate
    keys: Callable[[], RegistryKeys]
    contacts: ContactNormaliser
    clock: Clock
    ids: Callable[[str], str] = new_id


def is_provisioning(actor: Actor) -> bool:
    return actor.kind is ActorKind.SERVICE and actor.id == Service.PROVISIONING.value


class ProvisioningService:
    def __init__(
        self,
        parts: ProvisioningParts,
        grants: GrantService,
        contract_hooks: Sequence[ContractHook] = (),
    ) -> None:
        self._p = parts
        self._grants = grants
        self._hooks = contract_hooks

    @property
    def contacts(self) -> ContactNormaliser:
        return self._p.contacts

    def require(self, actor: Actor, action: Action) -> None:
        """Refuse, ledgered, anyone but the provisioning system: support may create a new
        holder on a transfer and the signup site may register, but neither syncs."""
        if not is_provisioning(actor):
            OutcomeRecorder(self._p.gate).refuse(
                actor,
                action,
                SYNC_RESOURCE,
                Outcome.PROVISIONING_ONLY,
                "only the provisioning system's token syncs customers, contracts and services",
            )

    def refuse_input(self, actor: Actor, action: Action, exc: InvalidInput) -> NoReturn:
        """Ledger a request refused for its input (`gate.invalid-request`, naming the field
        and the problem, never the text sent), then raise it: 422, nothing written."""
        denial = Decision(Effect.FORBID, Outcome.INVALID_REQUEST.value, str(exc))
        self._p.gate.record_outcome(actor, action, SYNC_RESOURCE, denial)
        raise exc

    def refuse(self, actor: Actor, action: Action, exc: EntrustedError) -> NoReturn:
        """Ledger a batch refused by the registry's state, then raise `exc` (409 or 404,
        nothing written): a clash is `provisioning.conflict`, a removal of what was never
        provisioned `provisioning.not-found` (naming its kind, not the hoster's id)."""
        if isinstance(exc, InvalidInput):
            self.refuse_input(actor, action, exc)
        found = not isinstance(exc, NotFound)
        outcome = Outcome.PROVISIONING_CONFLICT if found else Outcome.PROVISIONING_NOT_FOUND
        reason = str(exc) if found else f"{getattr(exc, 'kind', 'item')} never provisioned"
        denial = Decision(Effect.FORBID, outcome.value, reason)
        self._p.gate.record_outcome(actor, action, SYNC_RESOURCE, denial)
        raise exc

    def sync(
        self,
        actor: Actor,
        items: Sequence[Item],
        *,
        dry_run: bool = False,
        note: str | None = None,
        progress: Progress | None = None,
        first_row: int = 1,
    ) -> SyncReport:
        """Apply `items` (already validated) all or nothing; see the module doc."""
        p = self._p
        report = progress or (lambda _stage, _done, _total: None)
        self.require(actor, Action.UPDATE)
        planner = Planner(p.keys(), p.clock(), p.ids, first_row=first_row)
        verb = sync_action(items)
        try:
            with p.read() as uow:
                steps = planner.plan(uow, items)
        except (InvalidInput, Conflict, NotFound) as exc:  # the registry refuses: ledgered
            if dry_run:
                raise  # a dry run writes nothing, not even to the ledger
            self.refuse(actor, verb, exc)
        report("planned", len(steps), len(items))
        if dry_run:
            return SyncReport(tuple(s.applied for s in steps), dry_run=True)
        context = AccessContext(note=note)
        for action in (Action.CREATE, Action.UPDATE, Action.DELETE):
            resources = [s.resource for s in steps if s.action is action]
            if resources:
                p.gate.decide_many(actor, action, resources, context)
        report("decided", len(steps), len(items))
        try:
            again, ended, withdrawn = self._write(actor, planner, items, steps, report)
        except (InvalidInput, Conflict, NotFound) as exc:  # moved since the decision
            self.refuse(actor, verb, exc)
        report("written", len(again), len(again))
        self._after(actor, again, context)
        for r, why in withdrawn:
            OutcomeRecorder(p.gate).record(
                actor,
                Action.DELETE,
                grant_resource(r.id, r.customer_id),
                Outcome.REQUEST,
                f"request withdrawn: {why}",
                AccessContext(case_id=r.case_id),
            )
        self._grants.announce_ended(actor, ended)
        for step in again:  # other areas' hooks; the grants ended above, with the change
            if step.applied.entity is Entity.CONTRACT and step.applied.change is Change.REMOVED:
                for hook in self._hooks:
                    hook(actor, step.applied.id, "cancelled")
        return SyncReport(tuple(s.applied for s in again))

    def _write(
        self,
        actor: Actor,
        planner: Planner,
        items: Sequence[Item],
        steps: Sequence[Step],
        report: Progress,
    ) -> tuple[list[Step], list[Grant], list[tuple[AccessRequest, str]]]:
        """The writing unit: wait for any sync naming the same ids (PostgreSQL; SQLite's
        writer already is alone), re-plan on what is committed now, and write only the plan
        the gate decided. Grants on a removed service or a cancelled contract end, and
        requests for them are withdrawn, in the same transaction: nothing is left to a
        step after the commit that could fail and leave them live (a cancellation sent
        again finds any grant still live, and ends it)."""
        p = self._p
        with p.uow() as uow:
            uow.provisioning.serialise(lock_keys(items))
            again = planner.plan(uow, items)
            if [s.applied for s in again] != [s.applied for s in steps]:
                raise Conflict(CHANGED)
            ended: list[Grant] = []
            withdrawn: list[tuple[AccessRequest, str]] = []
            for n, step in enumerate(again, start=1):
                if step.write is not None:
                    step.write(uow, planner.now)
                if step.contract_id is not None and step.ends is not None:
                    ctr, why = step.contract_id, step.ends
                    sid = step.applied.id if step.applied.entity is Entity.SERVICE else None
                    grants = [
                        g for g in uow.grants.active_for_contract(ctr)
                        if sid is None or g.service_id == sid
                    ]  # fmt: skip
                    ended += end_in(uow, grants, planner.now, actor.id, why)
                    said = "service removed" if sid else "contract cancelled"
                    withdrawn += [
                        (r, said)
                        for r in uow.access_requests.pending_for_contract(ctr)
                        if (sid is None or r.service_id == sid)
                        and uow.access_requests.answer(
                            r.id, RequestStatus.WITHDRAWN, planner.now, actor.id, None
                        )
                    ]
                if n % 500 == 0:
                    report("written", n, len(again))
            uow.commit()
        return again, ended, withdrawn

    def _after(self, actor: Actor, steps: Sequence[Step], context: AccessContext) -> None:
        """Ledger every committed change (ids only) in one append; unchanged items get no
        outcome entry, their decision is their record."""
        done = []
        for step in steps:
            change, entity = step.applied.change, step.applied.entity
            if change is Change.UNCHANGED:
                continue
            removed = change is Change.REMOVED
            outcome = Outcome.PROVISIONING_REMOVED if removed else Outcome.PROVISIONED
            word = "cancelled" if removed and entity is Entity.CONTRACT else change.value
            reason = f"{entity.value} {word} by provisioning"
            done.append((step.action, step.resource, outcome, reason))
        OutcomeRecorder(self._p.gate).record_many(actor, done, context)


def sync_action(items: Sequence[Item]) -> Action:
    """How a refused batch is ledgered: `delete` when it only removes, else `update`."""
    removing = all(isinstance(i, ServiceRemoval | ContractCancellation) for i in items)
    return Action.DELETE if items and removing else Action.UPDATE


def lock_keys(items: Sequence[Item]) -> list[str]:
    """The external ids a batch writes under (hashed before they reach the database): each
    item's own, and a service's contract, so a service and its contract's cancellation
    sent at once wait for each other too."""
    keys = []
    for i in items:
        if isinstance(i, CustomerItem):
            keys.append(f"customer:{i.number}")
        elif isinstance(i, ContractItem | ContractCancellation):
            keys.append(f"contract:{i.number}")
        else:
            keys += [f"contract:{i.contract}", f"service:{i.contract}/{i.number}"]
    return keys
