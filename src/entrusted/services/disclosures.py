"""Disclosures under a Swiss court order (P4, P5): proposed by a legal officer, approved by a
second one, exported with exactly what the order covers, and the customer told unless the
order forbids it for a time.

- `propose`: an order in force, customers it names and categories it covers; anything more
  is refused (`disclosure.not-covered`), ledgered;
- `approve`: a second legal officer, never the one who proposed (`disclosure.self-approval`);
- `export`: only once approved (`disclosure.not-approved`); every customer's data passes the
  gate as `disclose` under the order (rule `legal-discloses-under-court-order`, whose
  `court_order` condition is `CourtOrderCovers`), and the `scope_to_court_order` obligation
  is kept here: the export is built from the customer's own export
  (`registry.export_sections`) and holds only the covered categories. The outcome
  `disclosure.disclosed` names the order's SHA-256;
- the customer's notice goes through the outbox in the same transaction, or is deferred
  (`disclosure.notice-deferred`) while the order forbids it; `lift_deferred` (the worker's
  `disclosures.lift` job) queues it once the day has come (`disclosure.notice-lifted`).
  Every entry of a disclosure names it (`refs.disclosure`), so that until then the customer's
  own views of the ledger hold those entries back (`services/disclosure_holdback.py`).

```python
d = disclosures.propose(legal_a, order.id)
disclosures.approve(legal_b, d.id)
document = disclosures.export(legal_a, d.id)
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from entrusted.crypto.personal import RegistryKeys, open_customer
from entrusted.domain.disclosures import (
    CourtOrder,
    DataCategory,
    Disclosure,
    DisclosureStatus,
    NoticeState,
    categories_of,
    order_problem,
    scope_problem,
)
from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.mailings import MailPurpose
from entrusted.domain.outbox import OutboxMessage, Topic
from entrusted.domain.policy import Action, Actor, Obligation, Resource, ResourceKind
from entrusted.errors import Conflict, InvalidInput, NotFound, Unavailable
from entrusted.services.court_orders import (
    MAX_LIST,
    DisclosureParts,
    checked_customers,
    disclosure_resource,
)
from entrusted.services.gate import AccessContext
from entrusted.services.outbox import Letter, MailTemplates, Renderer, queue, required
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import DisclosureUnitOfWork, DisclosureUnitOfWorkFactory
from entrusted.services.registry import export_sections

EXPORT_FORMAT = "entrusted-disclosure/v1"
# Which section of the customer's own export each category is, and what the gate is asked for.
_SECTION = {
    DataCategory.PERSONAL_DETAILS: "customer",
    DataCategory.CONTRACTS: "contracts",
    DataCategory.IDENTIFICATIONS: "identifications",
    DataCategory.TRANSFERS: "transfers",
}


def _context(order: CourtOrder, disclosure_id: str | None = None) -> AccessContext:
    """The order and its document's SHA-256; and, for the steps of one disclosure, its id, by
    which the entries filed under a customer are held back while the notice is deferred
    (`services/disclosure_holdback.py`)."""
    return AccessContext(
        court_order_id=order.id, note=order.document_sha256, disclosure_id=disclosure_id
    )


class Disclosures:
    """Propose, approve and export disclosures; lift deferred notices (see the module doc)."""

    def __init__(self, parts: DisclosureParts) -> None:
        self._p = parts

    def propose(
        self,
        actor: Actor,
        order_id: str,
        customer_ids: Sequence[str] = (),
        categories: Sequence[str] = (),
    ) -> Disclosure:
        """Propose disclosing `categories` of `customer_ids` (default: all the order names)."""
        p = self._p
        disclosure_id = p.ids(IdKind.DISCLOSURE.value)
        resource = disclosure_resource(disclosure_id)
        # Input that needs no decision is checked before the gate: it ledgers nothing.
        named = checked_customers(customer_ids, required=False)
        try:
            named_categories = categories_of(categories)
        except ValueError as exc:
            raise InvalidInput("categories", str(exc)) from None
        p.gate.decide(actor, Action.CREATE, resource, AccessContext(court_order_id=order_id))
        order = self._order(order_id, actor, resource)
        customers = named or order.customer_ids
        wanted = named_categories or order.categories
        self._usable(actor, Action.CREATE, resource, order)
        if (problem := scope_problem(order, customers, wanted)) is not None:
            p.outcomes.refuse(
                actor, Action.CREATE, resource, Outcome.DISCLOSURE_NOT_COVERED, problem,
                _context(order),
            )
        # Until it is exported, the disclosure shows the order's day (the notice is deferred
        # to it if the export happens before); the export sets the state it actually takes.
        disclosure = Disclosure(
            disclosure_id, order.id, customers, wanted, actor.id, p.clock(),
            notice_after=order.notice_after,
        )
        # Checked in the transaction that adds it, the order's row locked: two proposals of
        # the same data cannot both pass. Refused after the rollback, ledgered.
        with p.uow() as uow:
            clash = _overlap(uow, disclosure, _OPEN_OR_DONE)
            if clash is None:
                uow.disclosures.add(disclosure)
                uow.commit()
        if clash is not None:
            outcome, why = _refusal(clash, "nothing proposed")
            p.outcomes.record(
                actor, Action.CREATE, resource, outcome, why, _context(order), allowed=False,
            )
            raise Conflict(why)
        p.outcomes.record(
            actor, Action.CREATE, resource, Outcome.DISCLOSURE_PROPOSED,
            f"disclosure of {_names(wanted)} about {len(customers)} customer(s) proposed; "
            "needs a second approver",
            _context(order),
        )
        return disclosure

    def approve(self, actor: Actor, disclosure_id: str) -> Disclosure:
        """The second approver's yes; the officer who proposed cannot give it."""
        p = self._p
        resource = disclosure_resource(disclosure_id)
        disclosure = self.get(actor, disclosure_id, Action.APPROVE)
        order = self._order(disclosure.order_id)
        if actor.id == disclosure.requested_by:
            p.outcomes.refuse(
                actor, Action.APPROVE, resource, Outcome.DISCLOSURE_SELF_APPROVAL,
                "the legal officer who proposed a disclosure cannot also approve it; a second "
                "approver is needed",
                _context(order),
            )
        if disclosure.status is not DisclosureStatus.PENDING:
            raise Conflict(f"disclosure {disclosure_id} is already {disclosure.status.value}")
        self._usable(actor, Action.APPROVE, resource, order)
        approved = replace(
            disclosure, status=DisclosureStatus.APPROVED, approved_by=actor.id,
            approved_at=p.clock(),
        )
        with p.uow() as uow:
            if not uow.disclosures.update(approved, expect=DisclosureStatus.PENDING):
                raise Conflict(f"disclosure {disclosure_id} changed meanwhile; try again")
            uow.commit()
        p.outcomes.record(
            actor, Action.APPROVE, resource, Outcome.DISCLOSURE_APPROVED,
            f"disclosure approved by a second legal officer (proposed by "
            f"{disclosure.requested_by})",
            _context(order),
        )
        return approved

    def export(self, actor: Actor, disclosure_id: str) -> dict[str, Any]:
        """The approved disclosure's export, produced once: exactly what the order covers."""
        p = self._p
        resource = disclosure_resource(disclosure_id)
        disclosure = self.get(actor, disclosure_id, Action.READ)
        order = self._order(disclosure.order_id)
        if disclosure.status is DisclosureStatus.PENDING:
            p.outcomes.refuse(
                actor, Action.DISCLOSE, resource, Outcome.DISCLOSURE_NOT_APPROVED,
                "a disclosure needs a second approver who is not the one who proposed it; "
                "nothing was disclosed",
                _context(order),
            )
        if disclosure.status is DisclosureStatus.DISCLOSED:
            raise Conflict(f"disclosure {disclosure_id} was already exported")
        self._usable(actor, Action.DISCLOSE, resource, order)
        with p.uow() as uow:
            sections = {
                cid: export_sections(p.keys(), p.clock(), uow, cid)
                for cid in disclosure.customer_ids
            }
        audited = p.gate.decide_many(
            actor, Action.DISCLOSE, _resources(disclosure, sections),
            _context(order, disclosure_id),
        )
        if not all(Obligation.SCOPE_TO_COURT_ORDER in a.decision.obligations for a in audited):
            # Rules that allow a disclosure without scoping it are not these rules: fail closed.
            raise Unavailable("the rules allowed a disclosure without scope_to_court_order")
        now = p.clock()
        deferred = order.notice_forbidden_on(now.date())
        done = replace(
            disclosure, status=DisclosureStatus.DISCLOSED, disclosed_at=now,
            notice=NoticeState.DEFERRED if deferred else NoticeState.QUEUED,
            notice_after=order.notice_after if deferred else None,
        )
        with p.uow() as uow:
            if not uow.disclosures.update(done, expect=DisclosureStatus.APPROVED):
                raise Conflict(f"disclosure {disclosure_id} was exported meanwhile; nothing left")
            # Another disclosure under this order may have let the same data go since this one
            # was proposed (two proposed before the check at `propose` existed, or approved
            # side by side): checked here, the order's row locked, so it leaves only once.
            clash = _overlap(uow, disclosure, frozenset({DisclosureStatus.DISCLOSED}))
            if clash is None:
                if not deferred:
                    _queue_notices(uow, done, now)
                uow.commit()
        if clash is not None:  # rolled back: nothing left, nothing queued
            _, why = _refusal(clash, "nothing disclosed")
            p.outcomes.record(
                actor, Action.DISCLOSE, resource, Outcome.DISCLOSURE_ALREADY_EXPORTED, why,
                _context(order, disclosure_id), allowed=False,
            )
            raise Conflict(why)
        named = frozenset(disclosure.customer_ids)
        p.outcomes.record(
            actor, Action.DISCLOSE, resource, Outcome.DISCLOSED,
            f"disclosed {_names(disclosure.categories)} of {len(sections)} customer(s) under "
            f"court order {order.id} ({order.court} {order.case_number}), document SHA-256 "
            f"{order.document_sha256}",
            _context(order, disclosure_id),
        )
        self._record_notices(actor, done, order)
        return {
            "format": EXPORT_FORMAT,
            "disclosure": done.id,
            "disclosed_at": now.isoformat(),
            "court_order": {
                "id": order.id,
                "court": order.court,
                "case_number": order.case_number,
                "issued_on": order.issued_on.isoformat(),
                "valid_until": order.valid_until.isoformat(),
                "document_sha256": order.document_sha256,
            },
            "categories": sorted(c.value for c in disclosure.categories),
            "customers": [
                {"id": cid, **_scoped(sections[cid], disclosure.categories, named)}
                for cid in disclosure.customer_ids
            ],
        }

    def lift_deferred(self, actor: Actor, judge_when_none: bool = True) -> int:
        """Queue the notices whose deferral has ended; how many disclosures were lifted.
        Each lift is a decision of the gate (`update` on the disclosure: rule
        `worker-lifts-deferred-disclosure-notices`, the worker or the console operator); when
        none is due, the caller is still judged, on the desk's disclosures as a whole, so a
        refused caller learns nothing of what is deferred. A refusal lifts nothing.

        `judge_when_none=False` is for the worker's own round, every `outbox_interval_s`:
        judging it when nothing is due wrote an entry that records no change, about 8,600 a
        day (trial finding); the worker learns nothing it may not know."""
        p = self._p
        now = p.clock()
        with p.uow() as uow:
            due = uow.disclosures.deferred_until(now.date())
        if not due and not judge_when_none:
            return 0
        if not due:
            p.gate.decide(actor, Action.UPDATE, disclosure_resource("disclosures"))
        for d in due:
            p.gate.decide(
                actor, Action.UPDATE, disclosure_resource(d.id),
                AccessContext(court_order_id=d.order_id, disclosure_id=d.id),
            )
        with p.uow() as uow:
            lifted = [
                d for d in (replace(d, notice=NoticeState.QUEUED) for d in due)
                if uow.disclosures.update(d, expect=NoticeState.DEFERRED)
            ]
            for d in lifted:
                _queue_notices(uow, d, now)
            uow.commit()
        for d in lifted:
            p.outcomes.record(
                actor, Action.UPDATE, disclosure_resource(d.id), Outcome.DISCLOSURE_NOTICE_LIFTED,
                f"the order allows telling the customer from {d.notice_after}; notice queued, "
                "and the customer's own export and receipts show the disclosure from now on",
                AccessContext(court_order_id=d.order_id, disclosure_id=d.id),
            )
        return len(lifted)

    # --- reading -----------------------------------------------------------------------------

    def get(self, actor: Actor, disclosure_id: str, action: Action = Action.READ) -> Disclosure:
        self._p.gate.decide(actor, action, disclosure_resource(disclosure_id))
        with self._p.uow() as uow:
            found = uow.disclosures.get(disclosure_id)
        if found is None:
            raise NotFound("disclosure", disclosure_id)
        return found

    def list(self, actor: Actor, limit: int = 50) -> list[Disclosure]:
        self._p.gate.decide(actor, Action.LIST, disclosure_resource("disclosures"))
        with self._p.uow() as uow:
            return uow.disclosures.find(max(1, min(limit, MAX_LIST)))

    def renderers(self) -> dict[Topic, Renderer]:
        return {Topic.DISCLOSURE_NOTICE: notice_renderer(self._p.uow, self._p.keys, self._p.mails)}

    # --- helpers -----------------------------------------------------------------------------

    def _order(
        self, order_id: str, actor: Actor | None = None, resource: Resource | None = None
    ) -> CourtOrder:
        """The order; when `actor` is given (after the gate allowed a step naming it), a
        missing one is ledgered as a refusal beside that allow before `NotFound`."""
        with self._p.uow() as uow:
            order = uow.disclosures.get_order(order_id)
        if order is None:
            if actor is not None and resource is not None:
                self._p.outcomes.record(
                    actor, Action.CREATE, resource, Outcome.DISCLOSURE_UNKNOWN_REFERENCE,
                    f"no court order {order_id}; nothing proposed",
                    AccessContext(court_order_id=order_id), allowed=False,
                )
            raise NotFound("court order", order_id)
        return order

    def _usable(self, actor: Actor, action: Action, resource: Resource, order: CourtOrder) -> None:
        """Refuse, ledgered, when the order is no longer one to act on (expired)."""
        problem = order_problem(order, self._p.today())
        if problem is not None:
            outcome = (
                Outcome.COURT_ORDER_EXPIRED
                if order.expired_on(self._p.today())
                else Outcome.COURT_ORDER_FOREIGN
            )
            self._p.outcomes.refuse(actor, action, resource, outcome, problem, _context(order))

    def _record_notices(self, actor: Actor, done: Disclosure, order: CourtOrder) -> None:
        for cid in done.customer_ids:
            about = Resource(ResourceKind.PERSONAL_DETAILS, cid, owner=cid)
            if done.notice is NoticeState.DEFERRED:
                # The hold-back is decided here, once: until the notice is lifted, every
                # customer-facing view leaves this disclosure's entries out (no entry per view).
                self._p.outcomes.record(
                    actor, Action.UPDATE, about, Outcome.DISCLOSURE_NOTICE_DEFERRED,
                    f"the order forbids telling the customer before {order.notice_after}; "
                    "until the notice is lifted, the customer's own export and receipts hold "
                    "back this disclosure's entries",
                    _context(order, done.id),
                )
            else:
                self._p.outcomes.record(
                    actor, Action.UPDATE, about, Outcome.DISCLOSURE_NOTICE_QUEUED,
                    f"the customer is told of disclosure {done.id}", _context(order, done.id),
                )


_OPEN_OR_DONE = frozenset(
    {DisclosureStatus.PENDING, DisclosureStatus.APPROVED, DisclosureStatus.DISCLOSED}
)


def _overlap(
    uow: DisclosureUnitOfWork, d: Disclosure, statuses: frozenset[DisclosureStatus]
) -> tuple[Disclosure, list[str], frozenset[DataCategory]] | None:
    """Another disclosure under `d`'s order, in one of `statuses`, naming a customer and a
    category `d` names too: data leaves once per order (P5). Locks the order's row."""
    for other in uow.disclosures.under_order(d.order_id, lock=True):
        if other.id == d.id or other.status not in statuses:
            continue
        again = sorted(set(d.customer_ids) & set(other.customer_ids))
        overlap = d.categories & other.categories
        if again and overlap:
            return other, again, overlap
    return None


def _refusal(
    clash: tuple[Disclosure, list[str], frozenset[DataCategory]], nothing: str
) -> tuple[Outcome, str]:
    """The outcome and reason for data another disclosure already exports or would export."""
    other, again, overlap = clash
    who = f"{_names(overlap)} of customer(s) {', '.join(again[:5])}"
    if other.status is DisclosureStatus.DISCLOSED:
        return Outcome.DISCLOSURE_ALREADY_EXPORTED, (
            f"{who} already left under court order {other.order_id} (disclosure {other.id}); "
            f"{nothing}"
        )
    return Outcome.DISCLOSURE_ALREADY_PROPOSED, (
        f"{who} are already in disclosure {other.id} ({other.status.value}) under court order "
        f"{other.order_id}; data leaves once per order; {nothing}"
    )


def _names(categories: frozenset[DataCategory]) -> str:
    return ", ".join(sorted(c.value for c in categories))


def _resources(d: Disclosure, sections: dict[str, dict[str, Any]]) -> list[Resource]:
    """What the gate is asked to let go: each customer's record, and each contract."""
    out: list[Resource] = []
    for cid in d.customer_ids:
        if d.categories - {DataCategory.CONTRACTS}:
            out.append(Resource(ResourceKind.PERSONAL_DETAILS, cid, owner=cid))
        if DataCategory.CONTRACTS in d.categories:
            out += [
                Resource(ResourceKind.CONTRACT, c["id"], owner=cid)
                for c in sections[cid]["contracts"]
            ]
    return out


OTHER_HOLDER = "another holder"


def _scoped(
    sections: dict[str, Any], categories: frozenset[DataCategory], named: frozenset[str]
) -> dict[str, Any]:
    """The `scope_to_court_order` obligation: only the covered categories' sections, and in
    them no id of a customer the disclosure does not name (a transfer's other party is
    `another holder`: the order reaches the customers it names, not whom they dealt with)."""
    out = {c.value: sections[_SECTION[c]] for c in sorted(categories)}
    if DataCategory.TRANSFERS.value in out:
        out[DataCategory.TRANSFERS.value] = [
            {
                **t,
                "from": _named_or_not(t.get("from"), named),
                "to": _named_or_not(t.get("to"), named),
                # the one who made it: a staff id stays, another customer's id does not
                "by": _named_or_not(t.get("by"), named)
                if is_id(IdKind.CUSTOMER, str(t.get("by"))) else t.get("by"),
            }
            for t in out[DataCategory.TRANSFERS.value]
        ]
    return out


def _named_or_not(customer_id: Any, named: frozenset[str]) -> Any:
    if customer_id is None or customer_id in named:
        return customer_id
    return OTHER_HOLDER


def _queue_notices(uow: DisclosureUnitOfWork, d: Disclosure, now: datetime) -> list[OutboxMessage]:
    return [queue(uow.outbox, Topic.DISCLOSURE_NOTICE, f"{d.id}/{cid}", now)
            for cid in d.customer_ids]


def notice_renderer(
    uow: DisclosureUnitOfWorkFactory,
    keys: Callable[[], RegistryKeys],
    mails: MailTemplates | None = None,
) -> Renderer:
    """The customer's notice of a disclosure: which court, which case, which categories."""

    def render(message: OutboxMessage) -> Letter | None:
        disclosure_id, _, customer_id = message.ref.partition("/")
        with uow() as u:
            d = u.disclosures.get(disclosure_id)
            order = u.disclosures.get_order(d.order_id) if d is not None else None
            sealed = u.customers.get(customer_id)
        if d is None or order is None or sealed is None:
            return None
        details = open_customer(keys(), sealed)
        written = required(mails).write(
            Topic.DISCLOSURE_NOTICE,
            {
                "first_name": details.first_name,
                "last_name": details.last_name,
                "disclosed_at": d.disclosed_at,
                "categories": sorted(c.value for c in d.categories),
                "court": order.court,
                "case_number": order.case_number,
                "issued_on": order.issued_on,
            },
            sealed.language,
            sealed.time_zone,
        )
        return written.to(details.email, MailPurpose.SERVICE_NOTICE)

    return render
