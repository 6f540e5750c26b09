"""The gate: every access to customer data asks here, and nothing is allowed unless the
decision is durably in the ledger first.

    decision = gate.decide(actor, Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1",
                           owner="cus_1"), AccessContext(case_id="case_7"))

1. only the conditions a candidate rule uses are resolved, through ports (grants, cases, court
   orders, mailing purposes); a condition whose port is not wired is simply not satisfied, so
   the answer is deny;
2. the compiled engine decides;
3. the decision, allow *and* deny, is appended to the ledger; if that append does not commit,
   the caller gets `Unavailable` and nothing happens (fail closed, Vault's rule);
4. a denial raises `Refused` carrying the decision, whose reason is the one the ledger holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, cast

from entrusted.crypto.nonces import NoncePool
from entrusted.domain.audit import AuditEntry, Receipt, entry_bytes
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Condition,
    Decision,
    Effect,
    Engine,
    Resource,
    ResourceKind,
    Role,
)
from entrusted.errors import InvalidInput, Refused
from entrusted.services.gate_entries import (
    durably,
    is_id,
    is_reason,
    ledger_safe,
    refused_entry,
    role_names_of,
)
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import Clock, Ledger

INVALID_RULE = Outcome.INVALID_REQUEST.value
_CATALOGUE = frozenset(o.value for o in Outcome)


@dataclass(frozen=True, slots=True)
class AccessContext:
    """Why the actor asks: the ids that conditions are resolved against and the ledger records."""

    case_id: str | None = None
    grant_id: str | None = None
    court_order_id: str | None = None
    mailing_purpose: str | None = None
    recipients: tuple[str, ...] = ()
    note: str | None = None  # a short, id-only remark for the ledger (never personal details)
    ticket: str | None = None  # the helpdesk ticket a support look-up answers (P1), ledgered
    # The disclosure a step belongs to (P5): its entries are held back from the customer while
    # the court order defers their notice (services/disclosure_holdback.py).
    disclosure_id: str | None = None
    # The ids above by their ledger names, computed once: the gate checks them and ledgers
    # them on every decision. A read-only view: the keys are fixed by the fields above. Each
    # value is a plain `str` (a `StrEnum` member's text), so what was checked is what is
    # ledgered, whatever a subclass would say of itself.
    refs: Mapping[str, str] = field(init=False, repr=False, compare=False)
    # The ledger name of the first field that is not text (or None), or "recipients" if
    # those are not a tuple of ids: the gate refuses such a context, ledgered, before any
    # condition resolver sees it. Computed once, as the context is immutable.
    malformed: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = {
            "case": self.case_id,
            "grant": self.grant_id,
            "court_order": self.court_order_id,
            "purpose": self.mailing_purpose,
            "note": self.note,
            "ticket": self.ticket,
            "disclosure": self.disclosure_id,
        }
        refs: dict[str, str] = {}
        malformed: str | None = None
        for name, value in pairs.items():
            if value is None:
                continue
            if not isinstance(value, str):
                malformed = malformed or name
                continue
            text = str.__str__(value)  # a plain copy: no subclass's __bool__, __eq__ or __len__
            if text:
                refs[name] = text
        if malformed is None and not _are_ids(self.recipients):
            malformed = "recipients"
        object.__setattr__(self, "refs", MappingProxyType(refs))
        object.__setattr__(self, "malformed", malformed)


def _triple(item: object) -> tuple[Action, Resource, Decision]:
    action, resource, outcome = cast(tuple[Action, Resource, Decision], item)  # or it raises
    return action, resource, outcome


def _are_ids(values: object) -> bool:
    return type(values) is tuple and all(is_id(v) for v in values)


class ConditionResolver(Protocol):
    """Answers one condition for one request, from the data the area that owns it keeps."""

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool: ...


class DecisionTally(Protocol):
    """Counts each entry the gate ledgered (the metrics): must be cheap and never raise."""

    def __call__(self, effect: str, rule: str | None) -> None: ...


class ActorDirectory(Protocol):
    """Whether an actor exists and is active (e.g. the staff table); unknown actors are refused."""

    def known(self, actor: Actor) -> bool: ...

    def why_unknown(self, actor: Actor) -> str:
        """Why `known` said no, in ledger-safe words (ids only); asked on refusals only."""
        ...


@dataclass(frozen=True, slots=True)
class Audited:
    """An allowed decision and the receipt proving it is in the ledger."""

    decision: Decision
    receipt: Receipt

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


@dataclass
class Gate:
    engine: Engine
    ledger: Ledger
    clock: Clock
    resolvers: Mapping[Condition, ConditionResolver] = field(default_factory=dict)
    directory: ActorDirectory | None = None
    nonce: Callable[[int], bytes] = field(default_factory=NoncePool)
    tally: DecisionTally | None = None  # counted only once durable: the metrics match the log

    def decide(
        self,
        actor: Actor,
        action: Action | str,
        resource: Resource,
        context: AccessContext | None = None,
    ) -> Audited:
        """Decide, ledger, and return only once the record is durable; raise `Refused` on deny."""
        context = AccessContext() if context is None else context
        action, decision = self._evaluate(actor, action, resource, context)
        receipt = self._record(actor, action.value, resource, context, decision)
        if not decision.allowed:
            raise Refused(decision)
        return Audited(decision, receipt)

    def decide_many(
        self,
        actor: Actor,
        action: Action,
        resources: Sequence[Resource],
        context: AccessContext | None = None,
    ) -> list[Audited]:
        """`decide` for one action on many resources (a bulk import), with one durable ledger
        append for all of them instead of one commit each. Every decision is ledgered; if any
        is a denial, `Refused` carries the first one and nothing may proceed."""
        context = AccessContext() if context is None else context
        try:
            resources = tuple(resources)  # a generator is read once, here
        except TypeError:
            bad = InvalidInput("resources", "resources come as a sequence")
            raise self._refused(bad, actor, action, None, context) from None
        if not resources:
            return []
        evaluated = [self._evaluate(actor, action, r, context) for r in resources]
        decisions = [d for _, d in evaluated]
        entries = [
            self._entry(actor, parsed.value, r, context, d)
            for r, (parsed, d) in zip(resources, evaluated, strict=True)
        ]
        receipts = self._append(entries)
        for decision in decisions:
            if not decision.allowed:
                raise Refused(decision)
        return [Audited(d, r) for d, r in zip(decisions, receipts, strict=True)]

    def record_outcome(
        self,
        actor: Actor,
        action: Action,
        resource: Resource,
        outcome: Decision,
        context: AccessContext | None = None,
    ) -> Receipt:
        """Ledger what came of an access the rules already allowed, when the outcome is itself
        evidence: a caller identification that succeeded or failed, a contract handed over to
        its new holder (filed under them). `outcome.rule_id` names the service step from the
        outcome catalogue (never a policy rule), so an audit tells decisions of the rules from
        outcomes of the work. Services call it through `outcomes.OutcomeRecorder`."""
        context = AccessContext() if context is None else context
        parsed = self._checked_outcome(actor, action, resource, context, outcome)
        return self._record(actor, parsed.value, resource, context, outcome)

    def record_outcomes(
        self,
        actor: Actor,
        outcomes: Sequence[tuple[Action, Resource, Decision]],
        context: AccessContext | None = None,
    ) -> list[Receipt]:
        """`record_outcome` for many changes that committed together (a provisioning import),
        with one durable ledger append for all of them, as `decide_many` does for decisions.
        A malformed one is ledgered as refused and raised, after the well-formed ones are
        ledgered too: their changes committed, so the ledger must still report them."""
        context = AccessContext() if context is None else context
        try:
            triples = [_triple(item) for item in outcomes]
        except (TypeError, ValueError):
            bad = InvalidInput("outcomes", "outcomes come as (action, resource, outcome) triples")
            raise self._refused(bad, actor, "outcomes", None, context) from None
        entries: list[AuditEntry] = []
        refused: InvalidInput | None = None
        for action, resource, outcome in triples:
            try:
                parsed = self._checked_outcome(actor, action, resource, context, outcome)
            except InvalidInput as exc:  # its refusal is already in the ledger
                refused = refused or exc
                continue
            entries.append(self._entry(actor, parsed.value, resource, context, outcome))
        receipts = self._append(entries) if entries else []
        if refused is not None:
            raise refused
        return receipts

    def _checked_outcome(
        self,
        actor: Actor,
        action: Action | str,
        resource: Resource,
        context: AccessContext,
        outcome: Decision,
    ) -> Action:
        """`_checked`, and the outcome must be a `Decision` naming its step (`rule_id`) in
        ledger-safe words: anything else is ledgered as an invalid request and refused."""
        parsed = self._checked(actor, action, resource, context)
        if (
            isinstance(outcome, Decision)
            and isinstance(outcome.effect, Effect)
            and outcome.rule_id in _CATALOGUE  # never a policy rule's id: no outcome poses as one
            and is_reason(outcome.reason)
        ):
            return parsed
        message = "an outcome is a decision naming a step of the outcome catalogue, and why"
        raise self._refused(InvalidInput("outcome", message), actor, action, resource, context)

    def _refused(
        self, exc: InvalidInput, actor: object, action: object, resource: object, context: object
    ) -> InvalidInput:
        """Ledger a malformed request as refused, and hand back the error for the caller."""
        denial = Decision(Effect.FORBID, INVALID_RULE, f"invalid request: {exc.message}")
        entry = refused_entry(
            self.clock(), self.nonce(32), actor, ledger_safe(action), resource, context, denial
        )
        self._append([entry])
        return exc

    def _evaluate(
        self, actor: Actor, action: Action | str, resource: Resource, context: AccessContext
    ) -> tuple[Action, Decision]:
        """Validate, resolve only the conditions a candidate rule uses, and decide. An invalid
        request is ledgered as a denial before `InvalidInput` reaches the caller."""
        parsed = self._checked(actor, action, resource, context)
        facts = frozenset(
            c
            for c in self.engine.conditions_needed(actor, parsed, resource.kind)
            if self._holds(c, actor, resource, context)
        )
        return parsed, self.engine.decide(actor, parsed, resource, facts)

    def _checked(
        self, actor: Actor, action: Action | str, resource: Resource, context: AccessContext
    ) -> Action:
        """`_validate`, and a malformed request is itself ledgered as refused before
        `InvalidInput` reaches the caller (decisions and outcomes alike)."""
        try:
            return self._validate(actor, action, resource, context)
        except InvalidInput as exc:
            raise self._refused(exc, actor, action, resource, context) from None

    def _holds(
        self, condition: Condition, actor: Actor, resource: Resource, context: AccessContext
    ) -> bool:
        resolver = self.resolvers.get(condition)
        return resolver is not None and bool(resolver(actor, resource, context))

    def _validate(
        self, actor: Actor, action: Action | str, resource: Resource, context: AccessContext
    ) -> Action:
        if not isinstance(actor, Actor) or not isinstance(actor.kind, ActorKind):
            raise InvalidInput("actor", "not an actor")
        if not isinstance(context, AccessContext):
            raise InvalidInput("context", "not an access context")
        if context.malformed is not None:
            raise InvalidInput(f"context.{context.malformed}", "ids are printable text")
        if not is_id(actor.id):
            raise InvalidInput("actor", "an actor needs an id of 1-64 printable characters")
        if actor.roles.__class__ is not frozenset:
            raise InvalidInput("actor", "roles must be a set of known roles")
        for role in actor.roles:  # not `<= frozenset(Role)`: the plain name "support" is equal
            if role.__class__ is not Role:
                raise InvalidInput("actor", "roles must be a set of known roles")
        if actor.kind is ActorKind.STAFF and not actor.roles:
            raise InvalidInput("actor", "a staff member without a role has no access")
        if actor.kind is not ActorKind.STAFF and actor.roles:
            raise InvalidInput("actor", "only staff members hold roles")
        if not isinstance(resource, Resource) or not isinstance(resource.kind, ResourceKind):
            raise InvalidInput("resource", "unknown resource kind")
        if not is_id(resource.id):
            raise InvalidInput("resource", "a resource needs an id of 1-64 printable characters")
        if resource.owner is not None and not is_id(resource.owner):
            raise InvalidInput("resource", "owner ids are 1-64 printable characters")
        for name, value in context.refs.items():  # plain, non-empty str copies already
            if not is_id(value):
                raise InvalidInput(f"context.{name}", "ids are at most 64 printable characters")
        if action.__class__ is Action:
            parsed = action  # the common case; parsing it again costs an enum lookup in Python
        else:
            try:
                parsed = Action(action)
            except Exception:  # noqa: BLE001 - ValueError, or whatever a strange object raises
                raise InvalidInput("action", f"unknown action {ledger_safe(action)}") from None
        if self.directory is not None and not self.directory.known(actor):
            raise InvalidInput("actor", self.directory.why_unknown(actor))
        return parsed

    def _record(
        self,
        actor: Actor,
        action: str,
        resource: Resource,
        context: AccessContext,
        decision: Decision,
    ) -> Receipt:
        """One validated request's entry, durably. The fast path hands the ledger the entry's
        canonical bytes (`entry_bytes`) without building the `AuditEntry`: every audited
        decision passes here, and the object cost a third of the caller's work. A ledger
        without `append_body`, a naive clock or a nonce of another size take the entry's own
        path, which refuses the last two as it always did."""
        append_body = getattr(self.ledger, "append_body", None)
        when = self.clock()
        nonce = self.nonce(32)
        if append_body is None or when.tzinfo is None or len(nonce) != 32:
            return self._append([self._entry(actor, action, resource, context, decision)])[0]
        verdict = "allow" if decision.allowed else "deny"
        body = entry_bytes(
            when,
            actor.kind._value_,
            actor.id,
            role_names_of(actor.roles),
            action,
            resource.kind._value_,
            resource.id,
            resource.owner,
            verdict,
            decision.rule_id,
            decision.reason,
            context.refs,
            nonce,
        )
        receipt: Receipt = durably(append_body, body, resource.owner)
        if self.tally is not None:
            self.tally(verdict, decision.rule_id)
        return receipt

    def _entry(
        self,
        actor: Actor,
        action: str,
        resource: Resource,
        context: AccessContext,
        decision: Decision,
    ) -> AuditEntry:
        """The entry of a request `_validate` accepted: its ids are ledger-safe as they are."""
        return AuditEntry(
            time=self.clock(),
            actor_kind=actor.kind._value_,
            actor_id=actor.id,
            actor_roles=role_names_of(actor.roles),
            action=action,
            resource_kind=resource.kind._value_,
            resource_id=resource.id,
            owner=resource.owner,
            decision="allow" if decision.allowed else "deny",
            rule=decision.rule_id,
            reason=decision.reason,
            refs=dict(context.refs),
            nonce=self.nonce(32),
        )

    def _append(self, entries: list[AuditEntry]) -> list[Receipt]:
        receipts: list[Receipt] = durably(self._append_entries, entries)
        if self.tally is not None:
            for entry in entries:
                self.tally(entry.decision, entry.rule)
        return receipts

    def _append_entries(self, entries: list[AuditEntry]) -> list[Receipt]:
        if len(entries) == 1:
            return [self.ledger.append(entries[0])]
        return self.ledger.append_many(entries)
