"""Exhaustive analysis of a policy: the matrix, the invariants, the diff between two rule sets.

The model is finite (principals x actions x resource kinds x the conditions the candidate rules
use), so instead of testing a few requests we enumerate *every* request and prove properties
over all of them. Only single principals are enumerated: the engine's multi-role semantics make
what several roles may do a subset of what each role alone may do (see `domain/policy.py`), so
a property proved per principal holds for every combination of roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from entrusted.domain.policy import (
    ALL_PRINCIPALS,
    Action,
    Condition,
    Decision,
    Engine,
    Explanation,
    Principal,
    ResourceKind,
    Rule,
    condition_subsets,
    expand_principals,
)


class InvariantKind(StrEnum):
    DENY = "deny"  # the engine denies every listed request, whatever conditions hold
    REQUIRES = "requires"  # every allowed listed request has all the listed conditions
    ONLY = "only"  # among `among`, no principal outside `who` is allowed any listed request
    ALLOW = "allow"  # every listed request is allowed even when no condition holds
    # `who` is allowed nothing outside the listed actions x resources, beyond what an `allow`
    # invariant promises to everyone (reading the policy document): that is no one's reach.
    CONFINE = "confine"


@dataclass(frozen=True, slots=True)
class Invariant:
    """A property of the whole policy, proved by enumeration by `check_invariants`."""

    id: str
    kind: InvariantKind
    who: frozenset[Principal]
    actions: frozenset[Action]
    resources: frozenset[ResourceKind]
    implements: tuple[str, ...]
    reason: str
    conditions: frozenset[Condition] = frozenset()
    among: frozenset[Principal] = ALL_PRINCIPALS
    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A loaded rules file: what the engine runs, what analysis proves, and which exact bytes."""

    rules: tuple[Rule, ...]
    invariants: tuple[Invariant, ...]
    sha256: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """One point of the finite model: a principal asking under exactly `facts`."""

    principal: Principal
    action: Action
    kind: ResourceKind
    facts: frozenset[Condition]

    def describe(self) -> str:
        facts = " and ".join(sorted(self.facts)) or "no condition"
        return f"{self.principal} {self.action} {self.kind} with {facts}"


@dataclass(frozen=True, slots=True)
class Cell:
    """What one principal may do with one kind: the minimal condition sets that allow it."""

    principal: Principal
    action: Action
    kind: ResourceKind
    allowing: tuple[frozenset[Condition], ...]
    rule_ids: tuple[str, ...]

    @property
    def verdict(self) -> str:
        if not self.allowing:
            return "deny"
        if self.allowing == (frozenset(),):
            return "allow"
        options = sorted(" and ".join(sorted(s)) for s in self.allowing)
        return "allow if " + " or ".join(options)


@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant that does not hold: the first counter-example and the rules behind it."""

    invariant: Invariant
    request: Request
    rule_ids: tuple[str, ...]
    message: str


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Change:
    """One permission (principal, action, kind, minimal condition set) gained or lost."""

    change: ChangeKind
    principal: Principal
    action: Action
    kind: ResourceKind
    conditions: frozenset[Condition]
    rule_ids: tuple[str, ...]

    def describe(self) -> str:
        cond = " and ".join(sorted(self.conditions))
        when = f" if {cond}" if cond else ""
        rules = ", ".join(self.rule_ids)
        return f"{self.change}: {self.principal} may {self.action} {self.kind}{when} ({rules})"


def _principals() -> list[Principal]:
    return sorted(ALL_PRINCIPALS)


def _used(engine: Engine, principal: Principal, action: Action,
          kind: ResourceKind) -> frozenset[Condition]:
    rules = engine.candidates(principal, action, kind)
    return frozenset(c for r in rules for c in r.when | r.unless)


def requests_for(engine: Engine, principal: Principal, action: Action,
                 kind: ResourceKind) -> Iterator[tuple[Request, Decision]]:
    """Every condition combination that can change this decision, smallest sets first."""
    for facts in condition_subsets(_used(engine, principal, action, kind)):
        yield Request(principal, action, kind, facts), engine.evaluate(principal, action, kind,
                                                                        facts)


def enumerate_matrix(engine: Engine) -> Iterator[tuple[Request, Decision]]:
    """Every request of the finite model with its decision. Only the conditions the candidate
    rules use are varied: the others cannot change the outcome, so leaving them out keeps the
    enumeration exact and a few thousand points long."""
    for principal in _principals():
        for action in Action:
            for kind in ResourceKind:
                yield from requests_for(engine, principal, action, kind)


def _cell(engine: Engine, principal: Principal, action: Action, kind: ResourceKind) -> Cell:
    allowing: list[frozenset[Condition]] = []
    rule_ids: list[str] = []
    for request, decision in requests_for(engine, principal, action, kind):
        if decision.allowed and not any(s <= request.facts for s in allowing):
            allowing.append(request.facts)
            if decision.rule_id is not None and decision.rule_id not in rule_ids:
                rule_ids.append(decision.rule_id)
    return Cell(principal, action, kind, tuple(allowing), tuple(rule_ids))


def cells(engine: Engine) -> list[Cell]:
    """The whole matrix, one cell per (principal, action, kind)."""
    return [
        _cell(engine, p, a, k) for p in _principals() for a in Action for k in ResourceKind
    ]


def permission_matrix(engine: Engine, *, include_denied: bool = False) -> list[Cell]:
    """The cells worth printing: everything anyone may do (denials too, when asked)."""
    return [c for c in cells(engine) if include_denied or c.allowing]


def _targets(inv: Invariant) -> Iterator[tuple[Principal, Action, ResourceKind]]:
    principals = expand_principals(inv.who)
    if inv.kind is InvariantKind.ONLY:
        principals = expand_principals(inv.among) - principals
    if inv.kind is InvariantKind.CONFINE:
        # Everything outside the fence: a service token must reach only its integration's needs.
        for principal in sorted(principals):
            for action in sorted(Action):
                for kind in sorted(ResourceKind):
                    if action not in inv.actions or kind not in inv.resources:
                        yield principal, action, kind
        return
    for principal in sorted(principals):
        for action in sorted(inv.actions):
            for kind in sorted(inv.resources):
                yield principal, action, kind


def _for_everyone(invariants: Iterable[Invariant]) -> frozenset[tuple[Action, ResourceKind]]:
    """What `allow` invariants promise to every principal."""
    return frozenset(
        (a, k) for inv in invariants
        if inv.kind is InvariantKind.ALLOW and expand_principals(inv.who) >= ALL_PRINCIPALS
        for a in inv.actions for k in inv.resources
    )


def _check(engine: Engine, inv: Invariant,
           public: frozenset[tuple[Action, ResourceKind]] = frozenset()) -> Iterator[Violation]:
    for principal, action, kind in _targets(inv):
        if inv.kind is InvariantKind.CONFINE and (action, kind) in public:
            continue
        if inv.kind is InvariantKind.ALLOW:
            decision = engine.evaluate(principal, action, kind, frozenset())
            if not decision.allowed:
                ids = (decision.rule_id,) if decision.rule_id else ()
                request = Request(principal, action, kind, frozenset())
                yield Violation(inv, request, ids, f"{request.describe()} is denied: "
                                f"{decision.reason}")
            continue
        for request, decision in requests_for(engine, principal, action, kind):
            if not decision.allowed:
                continue
            if inv.kind is InvariantKind.REQUIRES and inv.conditions <= request.facts:
                continue
            ids = (decision.rule_id,) if decision.rule_id else ()
            yield Violation(inv, request, ids, f"{request.describe()} is allowed by {ids[0]}"
                            if ids else f"{request.describe()} is allowed")
            break  # the smallest counter-example per cell is enough to act on


def check_invariants(ruleset: RuleSet, engine: Engine | None = None) -> list[Violation]:
    """Every violated invariant with a counter-example and the rule ids responsible."""
    engine = engine or Engine(ruleset.rules)
    public = _for_everyone(ruleset.invariants)
    return [v for inv in ruleset.invariants for v in _check(engine, inv, public)]


def _permissions(engine: Engine) -> dict[tuple[Principal, Action, ResourceKind,
                                             frozenset[Condition]], tuple[str, ...]]:
    return {
        (c.principal, c.action, c.kind, s): c.rule_ids for c in cells(engine) for s in c.allowing
    }


def diff(old_rules: Iterable[Rule], new_rules: Iterable[Rule]) -> list[Change]:
    """Every permission added or removed between two rule sets, by meaning, not by text: a
    renamed or reordered rule that allows the same thing is no change."""
    old = _permissions(Engine(old_rules))
    new = _permissions(Engine(new_rules))
    changes = [
        Change(ChangeKind.REMOVED, p, a, k, s, old[(p, a, k, s)]) for (p, a, k, s) in old
        if (p, a, k, s) not in new
    ] + [
        Change(ChangeKind.ADDED, p, a, k, s, new[(p, a, k, s)]) for (p, a, k, s) in new
        if (p, a, k, s) not in old
    ]
    return sorted(changes, key=lambda c: (c.principal, c.action, c.kind, sorted(c.conditions),
                                          c.change))


def explain(engine: Engine, principal: Principal, action: Action, kind: ResourceKind,
            facts: Iterable[Condition] = ()) -> Explanation:
    """Which rule decides for a principal (as in `entrusted policy explain`) and every rule
    consulted on the way."""
    return engine.explain_principal(principal, action, kind, frozenset(facts))
