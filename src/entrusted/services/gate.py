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
from typing import Any, Protocol

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
from entrusted.errors import EntrustedError, InvalidInput, Refused, Unavailable
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import Clock, Ledger

INVALID_RULE = Outcome.INVALID_REQUEST.value
MAX_ID = 64
# Each role set's ledger spelling, sorted once (there are at most 2^len(Role) of them).
_ROLE_NAMES: dict[frozenset[Role], tuple[str, ...]] = {}


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
    # them on every decision. A read-only view: the keys are fixed by the fields above.
    refs: Mapping[str, str] = field(init=False, repr=False, compare=False)

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
        object.__setattr__(self, "refs", MappingProxyType({k: v for k, v in pairs.items() if v}))


class ConditionResolver(Protocol):
    """Answers one condition for one request, from the data the area that owns it keeps."""

    def __call__(self, actor: Actor, resource: Resource, context: AccessContext) -> bool: ...


class DecisionTally(Protocol):
    """Counts each entry the gate ledgered (the metrics): must be cheap and never raise."""

    def __call__(self, effect: str, rule: str | None) -> None: ...


class ActorDirectory(Protocol):
    """Whether an actor exists and is active (e.g. the staff table); unknown actors are refused."""

    def known(self, actor: Actor) -> bool: ...


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
        context = context or AccessContext()
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
        if not resources:
            return []
        context = context or AccessContext()
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
        context = context or AccessContext()
        parsed = self._checked_outcome(actor, action, resource, context, outcome)
        return self._record(actor, parsed.value, resource, context, outcome)

    def record_outcomes(
        self,
        actor: Actor,
        outcomes: Sequence[tuple[Action, Resource, Decision]],
        context: AccessContext | None = None,
    ) -> list[Receipt]:
        """`record_outcome` for many changes that committed together (a provisioning import),
        with one durable ledger append for all of them, as `decide_many` does for decisions."""
        if not outcomes:
            return []
        context = context or AccessContext()
        parsed = [self._checked_outcome(actor, a, r, context, d) for a, r, d in outcomes]
        entries = [
            self._entry(actor, p.value, r, context, d)
            for p, (_, r, d) in zip(parsed, outcomes, strict=True)
        ]
        return self._append(entries)

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
            and isinstance(outcome.rule_id, str)  # an `Outcome` member is a str
            and 0 < len(outcome.rule_id) <= MAX_ID
            and outcome.rule_id.isprintable()
            and isinstance(outcome.reason, str)
        ):
            return parsed
        message = "an outcome is a decision naming its step and why"
        denial = Decision(Effect.FORBID, INVALID_RULE, f"invalid request: outcome: {message}")
        self._append([self._invalid_entry(actor, parsed.value, resource, context, denial)])
        raise InvalidInput("outcome", message)

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
            denial = Decision(Effect.FORBID, INVALID_RULE, f"invalid request: {exc.message}")
            self._append([self._invalid_entry(actor, str(action), resource, context, denial)])
            raise

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
        if not _is_id(actor.id):
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
        if not _is_id(resource.id):
            raise InvalidInput("resource", "a resource needs an id of 1-64 printable characters")
        if resource.owner is not None and not _is_id(resource.owner):
            raise InvalidInput("resource", "owner ids are 1-64 printable characters")
        for name, value in context.refs.items():
            if not isinstance(value, str) or len(value) > MAX_ID or not _printable(value):
                raise InvalidInput(f"context.{name}", "ids are at most 64 printable characters")
        if action.__class__ is Action:
            parsed = action  # the common case; parsing it again costs an enum lookup in Python
        else:
            try:
                parsed = Action(action)
            except ValueError:
                raise InvalidInput("action", f"unknown action {action!r}") from None
        if self.directory is not None and not self.directory.known(actor):
            raise InvalidInput(
                "actor",
                f"unknown or disabled {actor.kind.value} {actor.id}, or a role it does not hold",
            )
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
            _role_names_of(actor.roles),
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
        receipt: Receipt = _durably(append_body, body, resource.owner)
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
            actor_roles=_role_names_of(actor.roles),
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

    def _invalid_entry(
        self,
        actor: object,
        action: str,
        resource: object,
        context: object,
        denial: Decision,
    ) -> AuditEntry:
        """The entry of a request `_validate` refused: anything may be wrong in it, so each
        part is read defensively and made ledger-safe (the refusal itself is always ledgered)."""
        refs = getattr(context, "refs", None)
        given = refs if isinstance(refs, Mapping) else {}
        return AuditEntry(
            time=self.clock(),
            actor_kind=str(getattr(getattr(actor, "kind", None), "value", "unknown")),
            actor_id=_ledger_safe(getattr(actor, "id", "")) or "unknown",
            actor_roles=_role_names(getattr(actor, "roles", ())),
            action=_ledger_safe(action),
            resource_kind=str(getattr(getattr(resource, "kind", None), "value", "unknown")),
            resource_id=_ledger_safe(getattr(resource, "id", "")) or "unknown",
            owner=_ledger_safe(getattr(resource, "owner", None)) or None,
            decision="deny",
            rule=denial.rule_id,
            reason=denial.reason,
            refs={k: _ledger_safe(v) for k, v in given.items()},
            nonce=self.nonce(32),
        )

    def _append(self, entries: list[AuditEntry]) -> list[Receipt]:
        receipts: list[Receipt] = _durably(self._append_entries, entries)
        if self.tally is not None:
            for entry in entries:
                self.tally(entry.decision, entry.rule)
        return receipts

    def _append_entries(self, entries: list[AuditEntry]) -> list[Receipt]:
        if len(entries) == 1:
            return [self.ledger.append(entries[0])]
        return self.ledger.append_many(entries)


def _durably(append: Callable[..., Any], *args: Any) -> Any:
    """Run a ledger append; whatever breaks, the caller gets `Unavailable` (fail closed: an
    access whose record did not commit never happens)."""
    try:
        return append(*args)
    except Unavailable:
        raise
    except EntrustedError as exc:
        raise Unavailable(f"the decision could not be audited ({exc.message}); refused") from None
    except Exception as exc:  # noqa: BLE001 - whatever broke, an unaudited access is refused
        raise Unavailable(
            f"the decision could not be audited ({type(exc).__name__}); refused"
        ) from None


def _role_names_of(roles: frozenset[Role]) -> tuple[str, ...]:
    """A validated role set's ledger spelling, sorted once per set."""
    names = _ROLE_NAMES.get(roles)
    if names is None:
        names = _ROLE_NAMES.setdefault(roles, tuple(sorted(map(str, roles))))
    return names


def _is_id(value: object) -> bool:
    """An id the gate accepts: text (a `StrEnum` member too) of 1-64 printable characters.
    Anything else is an invalid request, ledgered as such, never a `TypeError` that escapes
    unrecorded."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and value.isprintable()


def _printable(value: str) -> bool:
    """Ids are printable text: no NUL (PostgreSQL text cannot hold it), no control characters
    and no lone surrogates, so every id the gate accepts can be ledgered as given."""
    return value.isprintable()  # False for NUL, control characters and lone surrogates


def _role_names(roles: object) -> tuple[str, ...]:
    """The roles of a refused request as the ledger can hold them, whatever was passed."""
    if not isinstance(roles, frozenset | set | tuple | list):
        return ()
    return tuple(sorted(_ledger_safe(getattr(r, "value", r)) for r in roles))


def _ledger_safe(value: object) -> str:
    """An id as the ledger can hold it, for recording a request the gate refused as invalid:
    unprintable characters become `?` and the length is capped, so the refusal itself is
    always ledgered (never a 503 for a malformed id)."""
    if value is None:
        return ""
    text = str(value)[:MAX_ID]
    if text.isprintable():  # every valid id: no per-character pass on the hot path
        return text
    return "".join(ch if _printable(ch) else "?" for ch in text)
