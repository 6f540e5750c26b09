"""Exhaustive analysis: the shipped rules prove every invariant; broken rules are caught."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy import (
    ALL_PRINCIPALS,
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
)
from entrusted.domain.policy_analysis import (
    ChangeKind,
    Invariant,
    InvariantKind,
    RuleSet,
    check_invariants,
    diff,
    enumerate_matrix,
    explain,
    permission_matrix,
)

pytestmark = pytest.mark.promise("P8", "P12", "P15")


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(DEFAULT_RULES_PATH)


def with_rule(ruleset: RuleSet, rule: Rule) -> RuleSet:
    return replace(ruleset, rules=(*ruleset.rules, rule))


SUPPORT_RESTORES = Rule("support-restores-backups", Effect.PERMIT, frozenset({Role.SUPPORT}),
                        frozenset({Action.RESTORE}), frozenset({ResourceKind.BACKUP}), ("P15",),
                        "a deliberately wrong rule")


def test_the_shipped_rules_prove_every_invariant(shipped: RuleSet) -> None:
    assert check_invariants(shipped) == []


def test_a_permit_for_support_to_restore_backups_is_caught(shipped: RuleSet) -> None:
    violations = check_invariants(with_rule(shipped, SUPPORT_RESTORES))
    # The shipped forbid still wins, so the engine denies; remove it to expose the permit.
    assert violations == []
    without_forbid = replace(shipped, rules=(
        *(r for r in shipped.rules if r.id != "support-never-touches-backups"), SUPPORT_RESTORES
    ))
    violations = check_invariants(without_forbid)
    by_invariant = {v.invariant.id: v for v in violations}
    assert "support-never-lists-or-restores-backups" in by_invariant
    v = by_invariant["support-never-lists-or-restores-backups"]
    assert v.rule_ids == ("support-restores-backups",)
    assert (v.request.principal, v.request.action, v.request.kind) == (
        Role.SUPPORT, Action.RESTORE, ResourceKind.BACKUP)
    assert "allowed by support-restores-backups" in v.message


def test_requires_catches_a_permit_missing_the_condition(shipped: RuleSet) -> None:
    bypass = Rule("sysadmin-reads-mail", Effect.PERMIT, frozenset({Role.SYSADMIN}),
                  frozenset({Action.READ}), frozenset({ResourceKind.MAILBOX_CONTENT}),
                  ("P10",), "wrong", when=frozenset({Condition.COURT_ORDER}))
    rules = (*(r for r in shipped.rules if r.id != "mailbox-closed-to-staff"), bypass)
    violations = check_invariants(replace(shipped, rules=rules))
    (v,) = [v for v in violations if v.invariant.id == "mailbox-content-needs-a-grant"]
    assert v.request.facts == {Condition.COURT_ORDER}
    assert v.rule_ids == ("sysadmin-reads-mail",)


def test_only_catches_a_role_outside_the_list(shipped: RuleSet) -> None:
    nosy = Rule("communications-reads-contracts", Effect.PERMIT, frozenset({Role.COMMUNICATIONS}),
                frozenset({Action.READ}), frozenset({ResourceKind.CONTRACT}), ("P7",), "wrong")
    violations = check_invariants(with_rule(shipped, nosy))
    (v,) = violations
    assert v.invariant.id == "technical-access-only-sysadmin-and-support"
    assert v.invariant.kind is InvariantKind.ONLY
    assert v.request.principal is Role.COMMUNICATIONS


def test_allow_catches_a_forbid_that_shuts_out_the_public(shipped: RuleSet) -> None:
    closed = Rule("policy-closed", Effect.FORBID, frozenset({ActorKind.PUBLIC}),
                  frozenset({Action.READ}), frozenset({ResourceKind.POLICY_DOCUMENT}), ("P17",),
                  "wrong")
    (v,) = check_invariants(with_rule(shipped, closed))
    assert v.invariant.id == "policy-document-is-readable-by-anyone"
    assert v.rule_ids == ("policy-closed",)


def test_invariants_hold_for_every_combination_of_roles(shipped: RuleSet) -> None:
    """The analysis enumerates single principals; check its premise on real multi-role actors:
    whatever several roles may do, one of those roles alone may do under the same facts."""
    engine = Engine(shipped.rules)
    roles = sorted(Role)
    kinds = [k for k in ResourceKind if k is not ResourceKind.POLICY_DOCUMENT]
    conditions = [c for c in Condition if c is not Condition.OWNS_RESOURCE]
    fact_sets = [frozenset(s) for n in range(3) for s in itertools.combinations(conditions, n)]
    for n in (2, 3):
        for combo in itertools.combinations(roles, n):
            actor = Actor(ActorKind.STAFF, "s", frozenset(combo))
            for action, kind, facts in itertools.product(Action, kinds, fact_sets):
                if engine.decide(actor, action, Resource(kind, "r"), facts).allowed:
                    assert any(engine.evaluate(r, action, kind, facts).allowed for r in combo)


def test_enumeration_covers_the_whole_finite_model(shipped: RuleSet) -> None:
    engine = Engine(shipped.rules)
    points = list(enumerate_matrix(engine))
    cells = {(r.principal, r.action, r.kind) for r, _ in points}
    assert len(cells) == len(ALL_PRINCIPALS) * len(Action) * len(ResourceKind)
    grant_points = [r for r, _ in points
                    if (r.principal, r.action, r.kind) == (Role.SUPPORT, Action.READ,
                                                           ResourceKind.MAILBOX_CONTENT)]
    assert {r.facts for r in grant_points} == {frozenset(), frozenset({Condition.ACTIVE_GRANT})}


def test_permission_matrix_rows(shipped: RuleSet) -> None:
    rows = {(c.principal, c.action, c.kind): c for c in permission_matrix(Engine(shipped.rules))}
    assert rows[Role.SUPPORT, Action.READ, ResourceKind.MAILBOX_CONTENT].verdict == (
        "allow if active_grant")
    assert rows[Role.SUPPORT, Action.LIST_METADATA, ResourceKind.MAILBOX_METADATA].verdict == (
        "allow")
    mailing = rows[Role.COMMUNICATIONS, Action.MAIL, ResourceKind.MAILING]
    assert mailing.verdict == "allow if allowed_mailing_purpose and own_customer"
    assert (Role.SUPPORT, Action.RESTORE, ResourceKind.BACKUP) not in rows
    assert all(r.principal is not Role.OTHER or r.kind is ResourceKind.POLICY_DOCUMENT
               for r in rows.values())
    everything = permission_matrix(Engine(shipped.rules), include_denied=True)
    denied = [c for c in everything if c.verdict == "deny"]
    assert len(denied) + len(rows) == len(everything)


def test_diff_shows_the_added_permission(shipped: RuleSet) -> None:
    changes = diff(shipped.rules, (*shipped.rules, replace(SUPPORT_RESTORES,
                                                          id="support-restores-again")))
    assert changes == []  # the forbid still wins: no permission changed
    widened = Rule("support-exports-own", Effect.PERMIT, frozenset({Role.SUPPORT}),
                   frozenset({Action.EXPORT}), frozenset({ResourceKind.CONTRACT}), ("P1",), "x",
                   when=frozenset({Condition.CALLER_IDENTIFIED}))
    (change,) = diff(shipped.rules, (*shipped.rules, widened))
    assert change.change is ChangeKind.ADDED
    assert (change.principal, change.action, change.kind, change.conditions) == (
        Role.SUPPORT, Action.EXPORT, ResourceKind.CONTRACT,
        frozenset({Condition.CALLER_IDENTIFIED}))
    assert change.describe() == ("added: support may export contract if caller_identified "
                                 "(support-exports-own)")
    (back,) = diff((*shipped.rules, widened), shipped.rules)
    assert back.change is ChangeKind.REMOVED


def test_diff_ignores_renames_and_reordering(shipped: RuleSet) -> None:
    renamed = tuple(replace(r, id=f"x-{r.id}") for r in reversed(shipped.rules))
    assert diff(shipped.rules, renamed) == []


def test_explain_for_a_principal(shipped: RuleSet) -> None:
    engine = Engine(shipped.rules)
    result = explain(engine, Role.LEGAL, Action.DISCLOSE, ResourceKind.PERSONAL_DETAILS,
                     [Condition.COURT_ORDER])
    assert result.decision.rule_id == "legal-discloses-under-court-order"
    assert result.decision.obligations == ("scope_to_court_order",)
    assert [(t.rule.id, t.matched) for t in result.consulted] == [
        ("nobody-discloses-without-court-order", False),
        ("legal-discloses-under-court-order", True),
    ]


def test_an_invariant_built_in_code_is_checked_too(shipped: RuleSet) -> None:
    strict = Invariant("nobody-lists-cases", InvariantKind.DENY, frozenset({ActorKind.STAFF}),
                       frozenset({Action.LIST}), frozenset({ResourceKind.CASE}), ("P11",), "x")
    violations = check_invariants(replace(shipped, invariants=(strict,)))
    assert {v.request.principal for v in violations} == {Role.SUPPORT, Role.SYSADMIN}
