"""The policy vocabulary and the compiled default-deny engine (P8, P12).

Rules are data (see `rules/default.yaml`); this module gives them a closed vocabulary and
compiles them once into a table keyed by (principal, action, resource kind), so a decision is
two dict lookups and a set intersection: no parsing, no serialisation, no scan of the rule list.

Semantics, in the order the engine applies them:

* The principal of a staff member is each `Role` they hold; of anyone else, their `ActorKind`.
  In a rule, `staff` stands for every role.
* A permit matches when all its `when` conditions hold. A forbid matches when all its `when`
  conditions hold, unless *all* its `unless` conditions hold (lifting a forbid needs everything
  it names: the conservative reading for a privacy policy).
* Any matching forbid wins; otherwise any matching permit allows; otherwise default deny.
* A staff member with several roles is evaluated once per role: a forbid matching for *any* of
  their roles denies, and otherwise a permit from any role allows. Holding an extra role can
  therefore take access away but never widens what a role alone could do, which is why the
  analysis only needs to enumerate single principals.
* `owns_resource` is derived by the engine itself (customer actor id == resource owner); a caller
  cannot assert it. Every other condition is resolved by the gate, lazily: ask
  `Engine.conditions_needed` first and resolve only those.

    >>> engine = Engine([Rule("r1", Effect.PERMIT, frozenset({Role.SUPPORT}),
    ...     frozenset({Action.LIST_METADATA}), frozenset({ResourceKind.MAILBOX_METADATA}),
    ...     ("P13",), "support sees mailbox sizes and folder counts")])
    >>> clerk = Actor(ActorKind.STAFF, "s-1", frozenset({Role.SUPPORT}))
    >>> metadata = Resource(ResourceKind.MAILBOX_METADATA, "m-1")
    >>> engine.decide(clerk, Action.LIST_METADATA, metadata).allowed
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import NamedTuple, TypeAlias

from entrusted.domain.vocabulary import (
    OPERATOR_PREFIX,
    Action,
    ActorKind,
    Condition,
    Effect,
    Obligation,
    ResourceKind,
    Role,
    Service,
)
from entrusted.errors import InvalidInput

# The vocabulary lives in `domain/vocabulary.py`; it is re-exported here, where callers import it.
__all__ = [
    "ALL_PRINCIPALS",
    "CONDITION_SCOPE",
    "DERIVED_CONDITIONS",
    "NON_STAFF",
    "OPERATOR_PREFIX",
    "PROMISES",
    "Action",
    "Actor",
    "ActorKind",
    "Condition",
    "Decision",
    "Effect",
    "Engine",
    "Explanation",
    "Obligation",
    "Principal",
    "Resource",
    "ResourceKind",
    "Role",
    "Rule",
    "RuleTrace",
    "Service",
    "condition_subsets",
    "expand_principals",
    "explain",
    "scope_problem",
    "service_principal",
]

PROMISES = frozenset(f"P{n}" for n in range(1, 18))


Principal: TypeAlias = Role | ActorKind | Service

NON_STAFF = frozenset(k for k in ActorKind if k is not ActorKind.STAFF)
ALL_PRINCIPALS: frozenset[Principal] = (
    frozenset(Role) | frozenset(Service) | (NON_STAFF - {ActorKind.SERVICE})
)

# Which resource kinds a condition can meaningfully be about; a rule that uses a condition on
# any other kind is a mistake (it would silently never or always hold), so loading rejects it.
CONDITION_SCOPE: dict[Condition, frozenset[ResourceKind]] = {
    Condition.ACTIVE_GRANT: frozenset({ResourceKind.MAILBOX_CONTENT, ResourceKind.FTP_SPACE}),
    Condition.CALLER_IDENTIFIED: frozenset({ResourceKind.GRANT, ResourceKind.CONTRACT}),
    Condition.COURT_ORDER: frozenset(
        {ResourceKind.PERSONAL_DETAILS, ResourceKind.CONTRACT, ResourceKind.MAILBOX_METADATA,
         ResourceKind.MAILBOX_CONTENT, ResourceKind.FTP_SPACE, ResourceKind.FTP_SPACE_METADATA}
    ),
    Condition.OWNS_RESOURCE: frozenset(
        {ResourceKind.PERSONAL_DETAILS, ResourceKind.CONTRACT, ResourceKind.MAILBOX_CONTENT,
         ResourceKind.MAILBOX_METADATA, ResourceKind.FTP_SPACE, ResourceKind.CASE,
         ResourceKind.GRANT, ResourceKind.LEDGER, ResourceKind.FTP_SPACE_METADATA,
         ResourceKind.BACKUP}
    ),
    Condition.ALLOWED_MAILING_PURPOSE: frozenset({ResourceKind.MAILING}),
    Condition.OWN_CUSTOMER: frozenset({ResourceKind.MAILING}),
}
DERIVED_CONDITIONS = frozenset({Condition.OWNS_RESOURCE})
_OWNS = frozenset({Condition.OWNS_RESOURCE})
_NOTHING: frozenset[Condition] = frozenset()
# Members the hot path compares against, bound once: on Python 3.11 `ActorKind.STAFF` goes
# through the enum metaclass and costs as much as a dict lookup on every call.
_STAFF, _CUSTOMER, _SERVICE = ActorKind.STAFF, ActorKind.CUSTOMER, ActorKind.SERVICE
_PERMIT = Effect.PERMIT


def expand_principals(who: Iterable[Principal]) -> frozenset[Principal]:
    """`staff` in a rule means every role and `service` every integration; the engine only
    ever looks up concrete principals."""
    out: set[Principal] = set()
    for p in who:
        if p is ActorKind.STAFF:
            out.update(Role)
        elif p is ActorKind.SERVICE:
            out.update(Service)
        else:
            out.add(p)
    return frozenset(out)


def scope_problem(condition: Condition, kinds: Iterable[ResourceKind]) -> str | None:
    """Why `condition` cannot be used on `kinds`, or None when it can."""
    bad = sorted(k.value for k in kinds if k not in CONDITION_SCOPE[condition])
    if not bad:
        return None
    allowed = ", ".join(sorted(k.value for k in CONDITION_SCOPE[condition]))
    return f"condition {condition.value} cannot apply to {', '.join(bad)} (only to {allowed})"


def service_principal(actor_id: str) -> Principal:
    """The principal of a service actor: its integration, or the bare kind (which no rule
    names, so everything is denied) for an id that is no known integration."""
    if actor_id.startswith(OPERATOR_PREFIX):
        return Service.OPERATOR
    if actor_id in Service._value2member_map_ and actor_id != Service.OPERATOR:
        return Service(actor_id)
    return ActorKind.SERVICE


class Actor(NamedTuple):
    """Who asks. Staff carry roles; for anyone else the engine looks at `kind` only, so roles
    given to a customer or a service are ignored rather than honoured (and not checked here:
    an actor is built on every request, and the check would cost more than the decision).

    A named tuple rather than a frozen dataclass, as `Resource`: equally immutable, and built
    in about half the time (a frozen dataclass sets each field through `object.__setattr__`),
    which a decision of well under a microsecond notices."""

    kind: ActorKind
    id: str
    roles: frozenset[Role] = frozenset()


class Resource(NamedTuple):
    """What is asked about; `owner` is the owning customer's id, when there is one."""

    kind: ResourceKind
    id: str
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One permit or forbid, citing the promises it implements and where it was written."""

    id: str
    effect: Effect
    who: frozenset[Principal]
    actions: frozenset[Action]
    resources: frozenset[ResourceKind]
    implements: tuple[str, ...]
    reason: str
    when: frozenset[Condition] = frozenset()
    unless: frozenset[Condition] = frozenset()
    obligations: tuple[Obligation, ...] = ()
    line: int = 0

    def __post_init__(self) -> None:
        where = f"rule {self.id}"
        if not (self.who and self.actions and self.resources):
            raise InvalidInput(where, "who, actions and resources must each name something")
        if not self.implements or not set(self.implements) <= PROMISES:
            raise InvalidInput(where, "implements must cite promises among P1..P17")
        if self.unless and self.effect is Effect.PERMIT:
            raise InvalidInput(where, "unless is only for forbids; put the condition in when")
        for condition in self.when | self.unless:
            problem = scope_problem(condition, self.resources)
            if problem:
                raise InvalidInput(where, problem)

    def matches(self, facts: frozenset[Condition]) -> bool:
        """Whether this rule applies when exactly `facts` hold (target already matched)."""
        if not self.when <= facts:
            return False
        return not (self.unless and self.unless <= facts)


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision is a value with its reason, so the ledger and the user see the same words."""

    effect: Effect
    rule_id: str | None
    reason: str
    obligations: tuple[str, ...] = ()
    conditions_checked: tuple[tuple[Condition, bool], ...] = ()
    allowed: bool = field(init=False, compare=False)
    """`effect is PERMIT`, stored: every caller asks, and the engine's decisions are built once."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", self.effect is _PERMIT)


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """How one consulted rule fared: for `explain`, never on the hot path."""

    rule: Rule
    principal: Principal
    matched: bool
    note: str


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    consulted: tuple[RuleTrace, ...]


Facts: TypeAlias = frozenset[Condition] | Callable[[Condition], bool]


@dataclass(frozen=True, slots=True)
class _Entry:
    """The compiled candidates for one (principal, action, kind), with every outcome precomputed
    for each subset of the conditions they use (the model is finite and the subsets are few)."""

    forbids: tuple[Rule, ...]
    permits: tuple[Rule, ...]
    used: frozenset[Condition]
    needed: frozenset[Condition]
    derives_owner: bool
    outcomes: dict[frozenset[Condition], Decision]
    fixed: Decision | None
    per_role: bool = False
    """A staff member with several roles (or none): decided role by role, see `_decide_roles`."""


def _checked(used: frozenset[Condition],
             facts: frozenset[Condition]) -> tuple[tuple[Condition, bool], ...]:
    return tuple((c, c in facts) for c in sorted(used))


def _target(label: str, action: Action, kind: ResourceKind) -> str:
    return f"{label} to {action.value} {kind.value}"


def _denial(target: str, permits: Iterable[Rule], facts: frozenset[Condition],
            used: frozenset[Condition]) -> Decision:
    missing = sorted({" and ".join(sorted(r.when - facts)) for r in permits})
    without = f" without {' or '.join(missing)}" if missing else ""
    reason = f"no rule permits {target}{without} (default deny)"
    return Decision(Effect.FORBID, None, reason, (), _checked(used, facts))


def _outcome(target: str, forbids: tuple[Rule, ...], permits: tuple[Rule, ...],
             used: frozenset[Condition], facts: frozenset[Condition]) -> Decision:
    checked = _checked(used, facts)
    for rule in forbids:
        if rule.matches(facts):
            return Decision(Effect.FORBID, rule.id, rule.reason, (), checked)
    for rule in permits:
        if rule.matches(facts):
            obligations = tuple(o.value for o in rule.obligations)
            return Decision(Effect.PERMIT, rule.id, rule.reason, obligations, checked)
    return _denial(target, permits, facts, used)


def condition_subsets(items: frozenset[Condition]) -> Iterable[frozenset[Condition]]:
    """Every subset of `items`, smallest first (analysis relies on that order)."""
    ordered = sorted(items)
    for n in range(len(ordered) + 1):
        for combo in combinations(ordered, n):
            yield frozenset(combo)


class Engine:
    """The compiled default-deny engine. Build it once per rules file; `decide` is the hot path.

        engine = Engine(load_rules(DEFAULT_RULES_PATH).rules)
        needed = engine.conditions_needed(actor, Action.READ, ResourceKind.MAILBOX_CONTENT)
        decision = engine.decide(actor, Action.READ, mailbox, resolve(needed))
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        seen: set[str] = set()
        grouped: dict[tuple[Principal, Action, ResourceKind], list[Rule]] = {}
        for rule in self.rules:
            if rule.id in seen:
                raise InvalidInput(f"rule {rule.id}", "duplicate rule id")
            seen.add(rule.id)
            for p in expand_principals(rule.who):
                for action in rule.actions:
                    for kind in rule.resources:
                        grouped.setdefault((p, action, kind), []).append(rule)
        self._table: dict[tuple[Principal, Action, ResourceKind], _Entry] = {
            key: self._compile(key, candidates) for key, candidates in grouped.items()
        }
        self._denials: dict[tuple[str, Action, ResourceKind], Decision] = {}
        self._plans: dict[tuple[ActorKind, frozenset[Role], Action, ResourceKind], _Entry] = {}

    @staticmethod
    def _compile(key: tuple[Principal, Action, ResourceKind], rules: list[Rule]) -> _Entry:
        principal, action, kind = key
        forbids = tuple(r for r in rules if r.effect is Effect.FORBID)
        permits = tuple(r for r in rules if r.effect is Effect.PERMIT)
        used = frozenset(c for r in rules for c in r.when | r.unless)
        outcomes = {
            facts: _outcome(_target(principal.value, action, kind), forbids, permits, used, facts)
            for facts in condition_subsets(used)
        }
        fixed = outcomes[frozenset()] if not used else None
        return _Entry(forbids, permits, used, used - DERIVED_CONDITIONS,
                      Condition.OWNS_RESOURCE in used, outcomes, fixed)

    def principals(self, actor: Actor) -> tuple[Principal, ...]:
        """The table keys an actor is evaluated under, in a stable order."""
        if actor.kind is ActorKind.STAFF:
            return tuple(sorted(actor.roles))
        return (_key(actor),)

    def conditions_needed(self, actor: Actor, action: Action,
                          kind: ResourceKind) -> frozenset[Condition]:
        """The conditions the gate must resolve for this request; all others are irrelevant."""
        plan = self._plans.get((actor.kind, actor.roles, action, kind))
        return (plan or self._plan(actor, action, kind)).needed

    def decide(self, actor: Actor, action: Action, resource: Resource,
               facts: Facts = frozenset()) -> Decision:
        """Decide one request. `facts` are the conditions that hold (or a resolver called only
        for the conditions a candidate rule uses). Forbid wins; nothing matching denies."""
        kind = resource.kind
        entry = self._plans.get((actor.kind, actor.roles, action, kind))
        if entry is None:
            entry = self._plan(actor, action, kind)
        if entry.fixed is not None:
            return entry.fixed
        if entry.per_role:
            return self._decide_roles(actor, action, resource, facts)
        if entry.derives_owner or callable(facts):
            return entry.outcomes[self._relevant(entry, actor, resource, facts)]
        return entry.outcomes[facts & entry.needed]

    def _plan(self, actor: Actor, action: Action, kind: ResourceKind) -> _Entry:
        """The compiled entry that decides for this actor, memoised per (actor kind, roles,
        action, resource kind): every actor with the same kind and roles shares it, so the hot
        path is one dict lookup. A service actor's principal depends on its id (the operator's
        `cli:` prefix), so its entry is looked up afresh each time."""
        principal: Principal
        if actor.kind is _STAFF and len(actor.roles) != 1:
            entries = [self._table.get((r, action, kind)) for r in sorted(actor.roles)]
            needed = frozenset(c for e in entries if e is not None for c in e.needed)
            plan = _Entry((), (), needed, needed, False, {}, None, per_role=True)
        else:
            (principal,) = actor.roles if actor.kind is _STAFF else (_key(actor),)
            found = self._table.get((principal, action, kind))
            plan = found if found is not None else _Entry(
                (), (), _NOTHING, _NOTHING, False, {},
                self._default_denial(principal.value, action, kind))
        if actor.kind is not _SERVICE:
            self._plans[actor.kind, actor.roles, action, kind] = plan
        return plan

    def evaluate(self, principal: Principal, action: Action, kind: ResourceKind,
                 facts: frozenset[Condition]) -> Decision:
        """Decide for one principal with `facts` taken as given (derived ones included): the
        primitive that analysis enumerates."""
        entry = self._table.get((principal, action, kind))
        if entry is None:
            return self._default_denial(principal.value, action, kind)
        return entry.outcomes[facts & entry.used]

    def candidates(self, principal: Principal, action: Action,
                   kind: ResourceKind) -> tuple[Rule, ...]:
        """The rules consulted for one principal, forbids first, in file order."""
        entry = self._table.get((principal, action, kind))
        return () if entry is None else entry.forbids + entry.permits

    def explain_principal(self, principal: Principal, action: Action, kind: ResourceKind,
                          facts: frozenset[Condition]) -> Explanation:
        """Like `evaluate`, plus every rule consulted and why it did or did not match."""
        traces = tuple(
            RuleTrace(rule, principal, rule.matches(facts), _note(rule, facts))
            for rule in self.candidates(principal, action, kind)
        )
        return Explanation(self.evaluate(principal, action, kind, facts), traces)

    def facts_seen(self, principal: Principal, actor: Actor, action: Action,
                   resource: Resource, facts: Facts) -> frozenset[Condition]:
        """The conditions this principal's candidate rules see for the request."""
        entry = self._table.get((principal, action, resource.kind))
        return _NOTHING if entry is None else self._relevant(entry, actor, resource, facts)

    def _relevant(self, entry: _Entry, actor: Actor, resource: Resource,
                  facts: Facts) -> frozenset[Condition]:
        if callable(facts):
            held = frozenset([c for c in entry.needed if facts(c)])
        else:
            held = facts & entry.needed
        if entry.derives_owner and resource.owner is not None and (
            actor.kind is _CUSTOMER and resource.owner == actor.id
        ):
            held |= _OWNS
        return held

    def _decide_roles(self, actor: Actor, action: Action, resource: Resource,
                      facts: Facts) -> Decision:
        """Several roles (or none): a forbid for any role wins, then a permit from any role."""
        decisions: list[Decision] = []
        for role in sorted(actor.roles):
            entry = self._table.get((role, action, resource.kind))
            if entry is not None:
                decisions.append(entry.outcomes[self._relevant(entry, actor, resource, facts)])
        for decision in decisions:
            if decision.rule_id is not None and not decision.allowed:
                return decision
        for decision in decisions:
            if decision.allowed:
                return decision
        label = "+".join(sorted(r.value for r in actor.roles)) or "staff without a role"
        checked = tuple(sorted({c for d in decisions for c in d.conditions_checked}))
        if decisions:
            reason = f"no rule permits {label} to {action.value} {resource.kind.value} " \
                "under the conditions that hold (default deny)"
            return Decision(Effect.FORBID, None, reason, (), checked)
        return self._default_denial(label, action, resource.kind)

    def _default_denial(self, label: str, action: Action, kind: ResourceKind) -> Decision:
        key = (label, action, kind)
        decision = self._denials.get(key)
        if decision is None:
            decision = _denial(_target(label, action, kind), (), frozenset(), frozenset())
            self._denials[key] = decision
        return decision


def _key(actor: Actor) -> Principal:
    """The table key of a non-staff actor: a service's integration, otherwise its kind."""
    if actor.kind is _SERVICE:
        return service_principal(actor.id)
    return actor.kind


def _note(rule: Rule, held: frozenset[Condition]) -> str:
    """Why a consulted rule did or did not match, in the words `policy explain` prints."""
    missing = rule.when - held
    if missing:
        return f"needs {', '.join(sorted(missing))}"
    if rule.unless and rule.unless <= held:
        return f"lifted: {', '.join(sorted(rule.unless))} hold"
    if rule.unless:
        return f"applies: {', '.join(sorted(rule.unless - held))} missing"
    return "applies"


def explain(engine: Engine, actor: Actor, action: Action, resource: Resource,
            facts: Facts = frozenset()) -> Explanation:
    """The decision for an actor plus every rule consulted, for each of their principals, with
    the facts as the engine saw them (ownership derived, irrelevant conditions dropped)."""
    traces: list[RuleTrace] = []
    for principal in engine.principals(actor):
        held = engine.facts_seen(principal, actor, action, resource, facts)
        traces.extend(engine.explain_principal(principal, action, resource.kind, held).consulted)
    return Explanation(engine.decide(actor, action, resource, facts), tuple(traces))
