"""A customer's access history (issue 18): every ledgered access to their data, allowed and
refused, one page at a time, grouped by support case; a case's closing summary; and a receipt
for any one entry, with its inclusion proof, to check in a browser or offline.

Why pages through an index: a long-time customer has thousands of entries (the portal's
target is 10,000 with p99 <= 100 ms), so a page reads at most `PAGE_SIZE` entries below a
cursor, newest first, through the ledger's `customer_id` index, and looks up only the cases
and staff members that page names. Why names and never ids: the customer knows the people
who helped them by name; a `stf_` id means nothing to them (and staff ids are not theirs).

Every view is itself a decision of the gate, ledgered (`customer-sees-own-ledger-entries`):
reading one's history is an access to it. Shown one by one, those views would bury what the
customer came for, so a page folds each run of consecutive own views into one `OwnViews` line
(still every entry, each with its receipt, one click away); the fold never crosses a page.
Entries of a disclosure whose notice a court order defers stay out of every view until the
notice is lifted (P5, `disclosure_holdback.py`).

```python
page = history.page(actor, before=None)       # the newest PAGE_SIZE entries, by case
summary = history.case(actor, "cas_...")      # one case's entries and closing summary
receipt = history.receipt(actor, 1234)        # entrusted-receipt/v1 with one entry
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from entrusted.domain.audit import AuditEntry
from entrusted.domain.cases import Case, CaseStatus
from entrusted.domain.checkpoint import b64encode
from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind
from entrusted.errors import InvalidInput, NotFound, TamperDetected, Unavailable
from entrusted.services.consent_notices import visible
from entrusted.services.consent_parts import ConsentParts
from entrusted.services.customer_preferences import preferences_in, read_preferences
from entrusted.services.disclosure_holdback import HeldBack
from entrusted.services.gate import AccessContext
from entrusted.services.grant_steps import GrantSteps, OpenedName
from entrusted.services.ledger import CheckpointService, SignedCheckpoint
from entrusted.services.receipts import RECEIPT_FORMAT, verify_receipt

PAGE_SIZE = 100
OWN_VIEWS_RULE = "customer-sees-own-ledger-entries"
StaffNames = Callable[[str], str | None]
# What the closing summary lists as an access (P11): reading a mailbox or an FTP space.
_ACCESS_KINDS = frozenset({ResourceKind.MAILBOX_CONTENT.value, ResourceKind.FTP_SPACE.value})


class CustomerLedger(Protocol):
    """The ledger as the history reads it (adapters.db.ledger_store.SqlLedgerStore)."""

    def stored_size(self) -> int: ...
    def entries(self, start: int, end: int) -> list[bytes]: ...
    def customer_page(
        self, customer_id: str, before: int | None, limit: int
    ) -> list[tuple[int, bytes]]: ...
    def entries_for_customer(self, customer_id: str, below: int) -> list[tuple[int, bytes]]: ...
    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...
    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class Who:
    """Who acted, as the customer is shown it: `kind` is `you`, `staff`, `customer` (someone
    else), `service` (`name` says which), `third_party` or `public`; `name` a staff member's
    display name (None if no longer on file) or the service's id. Never a staff id."""

    kind: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    index: int
    time: datetime
    who: Who
    action: str
    resource_kind: str
    resource_id: str
    decision: str  # allow | deny
    rule: str | None
    reason: str
    case_id: str | None

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def own_view(self) -> bool:
        """The customer reading their own access records, allowed: the page's own echo."""
        return (
            self.who.kind == "you"
            and self.resource_kind == ResourceKind.LEDGER.value
            and self.rule == OWN_VIEWS_RULE
            and self.allowed
        )


@dataclass(frozen=True, slots=True)
class OwnViews:
    """A run of consecutive own views of one's own history, in the page's order."""

    entries: tuple[HistoryEntry, ...]

    @property
    def first(self) -> datetime:
        return min(e.time for e in self.entries)

    @property
    def last(self) -> datetime:
        return max(e.time for e in self.entries)


def folded(entries: Iterable[HistoryEntry]) -> tuple[HistoryEntry | OwnViews, ...]:
    """The entries as the page lists them: each run of two or more own views as one
    `OwnViews`; a lone own view stays a plain row (folding it would hide nothing)."""
    out: list[HistoryEntry | OwnViews] = []
    run: list[HistoryEntry] = []

    def flush() -> None:
        out.extend(run if len(run) < 2 else [OwnViews(tuple(run))])
        run.clear()

    for e in entries:
        if e.own_view:
            run.append(e)
            continue
        flush()
        out.append(e)
    flush()
    return tuple(out)


@dataclass(frozen=True, slots=True)
class CaseGroup:
    """The entries of one page filed under one case (`case_id` None: outside any case);
    `case` is the customer's own case record, None if the entry names no case of theirs."""

    case_id: str | None
    case: Case | None
    entries: tuple[HistoryEntry, ...]

    @property
    def resolved(self) -> bool:
        return self.case is not None and self.case.status is CaseStatus.RESOLVED

    @property
    def items(self) -> tuple[HistoryEntry | OwnViews, ...]:
        return folded(self.entries)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    customer_id: str
    time_zone: str | None
    language: str | None
    groups: tuple[CaseGroup, ...]
    before: int | None  # the cursor this page was read below (None: the newest)
    older: int | None  # the cursor of the next, older page (None: this is the last)


@dataclass(frozen=True, slots=True)
class Accessed:
    entry: HistoryEntry
    name: str  # the mailbox or FTP space in clear, as the closing summary names it


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """A case's entries, oldest first, and once it is resolved its closing summary: the
    accesses to mailbox content or FTP space, the grants, the names their steps opened."""

    case: Case
    time_zone: str | None
    language: str | None
    entries: tuple[HistoryEntry, ...]
    accessed: tuple[Accessed, ...]
    grants: tuple[str, ...]
    opened: tuple[tuple[str, tuple[OpenedName, ...]], ...]


class AccessHistory:
    def __init__(
        self,
        parts: ConsentParts,
        ledger: CustomerLedger,
        held: HeldBack,
        steps: GrantSteps,
        staff_names: StaffNames,
        checkpoints: Callable[[], CheckpointService],
    ) -> None:
        self._parts = parts
        self._ledger = ledger
        self._held = held
        self._steps = steps
        self._staff_names = staff_names
        self._checkpoints = checkpoints  # loads the signing key on first use only

    def page(self, actor: Actor, before: int | None = None) -> HistoryPage:
        """The customer's entries below index `before` (None: the newest), `PAGE_SIZE` at
        most, newest first, grouped by case in the order each case first appears."""
        customer_id = actor.id
        if before is not None and before < 1:
            raise InvalidInput("before", "must be a positive entry index")
        self._parts.gate.decide(actor, Action.LIST, _ledger_of(customer_id))
        rows = self._ledger.customer_page(customer_id, before, PAGE_SIZE)
        # After the gate allowed this customer's own history: what is held back from them,
        # and their zone and language, in one read after the entries (as CustomerFacingLog).
        withheld, mine = self._held.for_customer_with(
            customer_id, lambda uow: preferences_in(uow, customer_id)
        )
        shown = [(i, b) for i, b in rows if withheld is None or not withheld(b)]
        entries = self._entries(customer_id, shown)
        cases = self._cases(customer_id, {e.case_id for e in entries if e.case_id})
        order: dict[str | None, list[HistoryEntry]] = {}
        for e in entries:
            key = e.case_id if e.case_id in cases else None
            order.setdefault(key, []).append(e)
        groups = tuple(
            CaseGroup(k, cases.get(k) if k else None, tuple(v)) for k, v in order.items()
        )
        older = rows[-1][0] if len(rows) == PAGE_SIZE and rows[-1][0] > 0 else None
        return HistoryPage(customer_id, mine.time_zone, mine.language, groups, before, older)

    def case(self, actor: Actor, case_id: str) -> CaseHistory:
        """One of the customer's cases with all its entries, and its closing summary (P11)."""
        if not is_id(IdKind.CASE, case_id):
            self._parts.outcomes.invalid_id(
                actor, Action.READ, ResourceKind.CASE, "case_id", IdKind.CASE
            )
        with self._parts.read() as uow:
            case = uow.cases.get(case_id)
        # An unknown case is decided as a case of nobody's: refused and ledgered exactly as
        # another customer's is, so walking case ids tells no one which exist.
        resource = Resource(ResourceKind.CASE, case_id) if case is None else case.resource()
        self._parts.gate.decide(actor, Action.READ, resource, AccessContext(case_id))
        if case is None:
            raise NotFound("case", case_id)  # only if a rule ever allowed a case of nobody's
        customer_id = case.customer_id
        rows = self._ledger.entries_for_customer(customer_id, self._ledger.stored_size())
        withheld = self._held.for_customer(customer_id)
        mine = [
            (i, b)
            for i, b in rows
            if (withheld is None or not withheld(b)) and _case_of(b) == case.id
        ]
        entries = self._entries(customer_id, mine)
        accessed: list[Accessed] = []
        grants: set[str] = set()
        if case.status is CaseStatus.RESOLVED:
            notices = self._parts.notices
            for e in entries:
                if e.resource_kind in _ACCESS_KINDS:
                    name = visible(notices.service_name(case.contract_id, e.resource_id))
                    accessed.append(Accessed(e, name))
            grants = {g for _, b in mine if (g := AuditEntry.from_bytes(b).refs.get("grant"))}
        opened = self._steps.opened(customer_id, grants) if grants else {}
        zone, language = self._preferences(customer_id)
        return CaseHistory(
            case, zone, language, tuple(entries), tuple(accessed), tuple(sorted(grants)),
            tuple(
                (g, tuple(replace(o, name=visible(o.name)) for o in n))
                for g, n in sorted(opened.items())
                if n
            ),
        )  # fmt: skip

    def receipt(self, actor: Actor, index: int) -> dict[str, Any]:
        """Entry `index` as an `entrusted-receipt/v1` of one entry, with its inclusion proof
        against the latest signed checkpoint; the gate decides by the entry's owner, so
        another customer's entry is refused (and the attempt ledgered under its owner).

        An entry held back from its owner (P5) is decided as an entry of nobody's: the gate
        refuses the owner exactly as it refuses anyone an entry not theirs, and files the
        refusal under no customer. A 404 for it alone would tell a stranger, or the owner
        walking indices, that a deferred entry sits there.

        Only an entry newer than the latest checkpoint makes a new one be signed; a signer
        that cannot sign now is `Unavailable` (try again), never a 500."""
        if not 0 <= index < self._ledger.stored_size():
            raise NotFound("ledger entry", index)
        body = self._ledger.entries(index, index + 1)[0]
        owner = _owner_of(body)
        withheld = self._held.for_customer(owner) if owner else None
        if withheld is not None and withheld(body):
            owner = None
        resource = Resource(ResourceKind.LEDGER, f"entry/{index}", owner=owner)
        self._parts.gate.decide(actor, Action.READ, resource)
        checkpoints = self._checkpoints()
        latest = checkpoints.published()
        if latest is None or index >= latest.size:
            latest = _covering(checkpoints)
        if index >= latest.size:
            raise NotFound("signed checkpoint covering entry", index)
        proof = self._ledger.inclusion_proof(index, latest.size)
        receipt: dict[str, Any] = {
            "format": RECEIPT_FORMAT,
            "origin": checkpoints.origin,
            "vkey": checkpoints.key_list,
            "customer": owner,
            "checkpoint": latest.note,
            "entries": [{"index": index, "body": b64encode(body), "inclusion_proof": _b64(proof)}],
            "earlier_checkpoints": [],
        }
        # checked here exactly as the customer will: never hand out a proof that fails
        verify_receipt(receipt, checkpoints.key_list)
        return receipt

    def consistency(self, old_size: int, new_size: int) -> list[str]:
        """A consistency proof between two tree sizes up to the published checkpoint, for a
        browser checking a saved receipt against today's log. Public, like the hash tiles it
        is computed from: it reveals hashes only, and is worthless unless it verifies."""
        published = self._checkpoints().published()
        top = 0 if published is None else published.size
        if not 1 <= old_size <= new_size <= top:
            raise InvalidInput("size", f"sizes must satisfy 1 <= old <= new <= {top}")
        return _b64(self._ledger.consistency_proof(old_size, new_size))

    # --- reading what a page names -------------------------------------------------------

    def _entries(self, customer_id: str, rows: Iterable[tuple[int, bytes]]) -> list[HistoryEntry]:
        names: dict[str, str | None] = {}
        out = []
        for index, body in rows:
            e = AuditEntry.from_bytes(body)
            out.append(
                HistoryEntry(
                    index, e.time, self._who(customer_id, e, names), e.action, e.resource_kind,
                    e.resource_id, e.decision, e.rule, e.reason, e.refs.get("case"),
                )
            )  # fmt: skip
        return out

    def _who(self, customer_id: str, e: AuditEntry, names: dict[str, str | None]) -> Who:
        kind = e.actor_kind
        if kind == ActorKind.CUSTOMER.value:
            return Who("you") if e.actor_id == customer_id else Who("customer")
        if kind == ActorKind.STAFF.value:
            if e.actor_id not in names:
                names[e.actor_id] = self._staff_names(e.actor_id)
            return Who("staff", names[e.actor_id])
        if kind == ActorKind.SERVICE.value:
            return Who("service", e.actor_id)
        return Who(kind if kind in {"third_party", "public"} else "public")

    def _cases(self, customer_id: str, case_ids: set[str]) -> dict[str, Case]:
        found: dict[str, Case] = {}
        if not case_ids:
            return found
        with self._parts.read() as uow:
            for case_id in sorted(case_ids):
                case = uow.cases.get(case_id)
                if case is not None and case.customer_id == customer_id:
                    found[case_id] = case
        return found

    def _preferences(self, customer_id: str) -> tuple[str | None, str | None]:
        """After the gate allowed this customer's own history: their zone and language."""
        mine = read_preferences(self._parts.registry.read, customer_id)
        return mine.time_zone, mine.language


def _covering(checkpoints: CheckpointService) -> SignedCheckpoint:
    """Sign the head (it holds the entry asked for) and return the newest checkpoint. A
    signer halted (a witness objected, a check failed) or busy past its wait makes the
    receipt wait, not fail: the customer is told to try again."""
    try:
        checkpoints.sign()
        return checkpoints.latest()
    except (TamperDetected, Unavailable) as exc:
        raise Unavailable(
            "this entry is not under a signed checkpoint yet and none can be signed just "
            "now; try again in a few minutes"
        ) from exc


def _ledger_of(customer_id: str) -> Resource:
    return Resource(ResourceKind.LEDGER, f"customer/{customer_id}", owner=customer_id)


def _owner_of(body: bytes) -> str | None:
    try:
        return AuditEntry.from_bytes(body).owner
    except ValueError:
        return None  # not an entry of ours: nobody's, so the gate refuses every customer


def _case_of(body: bytes) -> str | None:
    return AuditEntry.from_bytes(body).refs.get("case")


def _b64(hashes: list[bytes]) -> list[str]:
    return [b64encode(h) for h in hashes]
