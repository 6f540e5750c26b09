"""The compiled engine's hot path against the rules read literally (the fast path must equal
its slow definition): every decision and every `conditions_needed` answer, for actors of every
kind and any roles, asked twice so the memoised plan answers the second time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy import (
    OPERATOR_PREFIX,
    Action,
    Actor,
    ActorKind,
    Condition,
    Effect,
    Engine,
    Resource,
    ResourceKind,
    Role,
    Rule,
    Service,
)

pytestmark = pytest.mark.promise("P8", "P12")

RULES = load_rules(DEFAULT_RULES_PATH).rules
ENGINE = Engine(RULES)


def _principals(actor: Actor) -> list[str]:
    """As the policy module's docstring defines them, spelled out without the engine."""
    if actor.kind == "staff":
        return sorted(str(r) for r in actor.roles)
    if actor.kind == "service":
        if actor.id.startswith(OPERATOR_PREFIX):
            return ["operator"]
        known = {str(s) for s in Service} - {"operator"}
        return [actor.id] if actor.id in known else ["service"]  # a kind no rule can name
    return [str(actor.kind)]


def _names(rule: Rule, principal: str) -> bool:
    who = {str(w) for w in rule.who}
    if "staff" in who and principal in {str(r) for r in Role}:
        return True
    if "service" in who and principal in {str(s) for s in Service}:
        return True
    return principal in who and principal not in {"staff", "service"}  # no rule names these


def _candidates(principal: str, action: Action, kind: ResourceKind) -> list[Rule]:
    return [r for r in RULES if _names(r, principal) and action in r.actions
            and kind in r.resources]


def _applies(rule: Rule, facts: set[str]) -> bool:
    when, unless = {str(c) for c in rule.when}, {str(c) for c in rule.unless}
    return when <= facts and not (unless and unless <= facts)


def reference(actor: Actor, action: Action, resource: Resource,
              given: frozenset[Condition]) -> tuple[bool, str | None]:
    """(allowed, rule id): a matching forbid of any principal wins (roles in sorted order,
    rules in file order), then a matching permit, else default deny with no rule."""
    facts = {str(c) for c in given} - {"owns_resource"}
    if actor.kind == "customer" and resource.owner is not None and resource.owner == actor.id:
        facts.add("owns_resource")
    principals = _principals(actor)
    for p in principals:
        for r in _candidates(p, action, resource.kind):
            if r.effect == Effect.FORBID and _applies(r, facts):
                return False, r.id
    for p in principals:
        for r in _candidates(p, action, resource.kind):
            if r.effect == Effect.PERMIT and _applies(r, facts):
                return True, r.id
    return False, None


def needed_reference(actor: Actor, action: Action, kind: ResourceKind) -> set[str]:
    return {str(c) for p in _principals(actor) for r in _candidates(p, action, kind)
            for c in r.when | r.unless} - {"owns_resource"}


@st.composite
def actors(draw: st.DrawFn) -> Actor:
    kind = draw(st.sampled_from(list(ActorKind)))
    if kind is ActorKind.STAFF:
        return Actor(kind, "staff-1", frozenset(draw(st.sets(st.sampled_from(list(Role))))))
    if kind is ActorKind.SERVICE:
        ident = draw(st.sampled_from([*(s.value for s in Service), "cli:ops@host", "retired"]))
        return Actor(kind, ident)
    return Actor(kind, draw(st.sampled_from(["customer-1", "customer-2"])))


@settings(max_examples=3_000, deadline=None)
@given(
    actor=actors(),
    action=st.sampled_from(list(Action)),
    kind=st.sampled_from(list(ResourceKind)),
    owner=st.sampled_from([None, "customer-1", "customer-2"]),
    facts=st.frozensets(st.sampled_from(list(Condition))),
)
def test_decisions_equal_the_rules_read_literally(
    actor: Actor, action: Action, kind: ResourceKind, owner: str | None,
    facts: frozenset[Condition],
) -> None:
    resource = Resource(kind, "r-1", owner)
    want = reference(actor, action, resource, facts)
    for _ in range(2):  # the second call is answered from the memoised plan
        decision = ENGINE.decide(actor, action, resource, facts)
        assert (decision.allowed, decision.rule_id) == want
        assert decision.allowed is (decision.effect is Effect.PERMIT)
        by_resolver = ENGINE.decide(actor, action, resource, facts.__contains__)
        assert (by_resolver.allowed, by_resolver.rule_id) == want
        needed = ENGINE.conditions_needed(actor, action, kind)
        assert {str(c) for c in needed} == needed_reference(actor, action, kind)


def test_the_reference_can_fail() -> None:
    """A planted difference: the same rules with the support grant rule turned into a forbid
    decide differently from the reference on the request that rule decides."""
    flipped = [
        Rule(r.id, Effect.FORBID, r.who, r.actions, r.resources, r.implements, r.reason)
        if r.effect is Effect.PERMIT and Condition.ACTIVE_GRANT in r.when else r
        for r in RULES
    ]
    clerk = Actor(ActorKind.STAFF, "staff-1", frozenset({Role.SUPPORT}))
    mailbox = Resource(ResourceKind.MAILBOX_CONTENT, "m-1", "customer-1")
    grant = frozenset({Condition.ACTIVE_GRANT})
    assert reference(clerk, Action.READ, mailbox, grant)[0] is True
    assert Engine(flipped).decide(clerk, Action.READ, mailbox, grant).allowed is False
