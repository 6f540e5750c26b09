"""The compiled engine: default deny, forbid wins, conditions, derived ownership, several roles."""

from __future__ import annotations

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Condition,
    Effect,
    Engine,
    Obligation,
    Resource,
    ResourceKind,
    Role,
    Rule,
    explain,
)
from entrusted.errors import InvalidInput

pytestmark = pytest.mark.promise("P8", "P12")

MAIL = ResourceKind.MAILBOX_CONTENT
GRANT = frozenset({Condition.ACTIVE_GRANT})


def staff(*roles: Role, ident: str = "staff-1") -> Actor:
    return Actor(ActorKind.STAFF, ident, frozenset(roles))


def rule(rule_id: str, effect: Effect, who: set[Role | ActorKind], actions: set[Action],
         kinds: set[ResourceKind], *, when: set[Condition] | None = None,
         unless: set[Condition] | None = None) -> Rule:
    return Rule(rule_id, effect, frozenset(who), frozenset(actions), frozenset(kinds), ("P11",),
                f"reason of {rule_id}", frozenset(when or ()), frozenset(unless or ()))


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine(load_rules(DEFAULT_RULES_PATH).rules)


def test_nothing_matching_is_denied_with_a_reason() -> None:
    engine = Engine([])
    decision = engine.decide(staff(Role.SUPPORT), Action.READ, Resource(MAIL, "mailbox-1"))
    assert not decision.allowed
    assert decision.effect is Effect.FORBID
    assert decision.rule_id is None
    assert decision.reason == "no rule permits support to read mailbox_content (default deny)"


def test_forbid_wins_over_a_permit_for_the_same_request() -> None:
    engine = Engine([
        rule("permit", Effect.PERMIT, {Role.SUPPORT}, {Action.RESTORE}, {ResourceKind.BACKUP}),
        rule("forbid", Effect.FORBID, {ActorKind.STAFF}, {Action.RESTORE}, {ResourceKind.BACKUP}),
    ])
    decision = engine.decide(staff(Role.SUPPORT), Action.RESTORE,
                             Resource(ResourceKind.BACKUP, "b-1"))
    assert (decision.allowed, decision.rule_id) == (False, "forbid")


def test_when_conditions_must_all_hold() -> None:
    engine = Engine([rule("mail", Effect.PERMIT, {Role.SUPPORT}, {Action.READ}, {MAIL},
                          when={Condition.ACTIVE_GRANT, Condition.COURT_ORDER})])
    clerk, box = staff(Role.SUPPORT), Resource(MAIL, "m-1")
    assert not engine.decide(clerk, Action.READ, box, GRANT).allowed
    both = frozenset({Condition.ACTIVE_GRANT, Condition.COURT_ORDER})
    decision = engine.decide(clerk, Action.READ, box, both)
    assert decision.allowed
    assert decision.conditions_checked == ((Condition.ACTIVE_GRANT, True),
                                           (Condition.COURT_ORDER, True))
    denied = engine.decide(clerk, Action.READ, box, frozenset())
    assert "without active_grant and court_order" in denied.reason


def test_unless_lifts_a_forbid_only_when_every_condition_holds() -> None:
    engine = Engine([
        rule("closed", Effect.FORBID, {ActorKind.STAFF}, {Action.READ}, {MAIL},
             unless={Condition.ACTIVE_GRANT, Condition.COURT_ORDER}),
        rule("open", Effect.PERMIT, {Role.SUPPORT}, {Action.READ}, {MAIL}),
    ])
    clerk, box = staff(Role.SUPPORT), Resource(MAIL, "m-1")
    assert engine.decide(clerk, Action.READ, box, GRANT).rule_id == "closed"
    both = frozenset({Condition.ACTIVE_GRANT, Condition.COURT_ORDER})
    assert engine.decide(clerk, Action.READ, box, both).rule_id == "open"


def test_a_resolver_is_asked_only_for_conditions_a_candidate_uses(shipped: Engine) -> None:
    asked: list[Condition] = []

    def resolve(condition: Condition) -> bool:
        asked.append(condition)
        return True

    clerk = staff(Role.SUPPORT)
    decision = shipped.decide(clerk, Action.READ, Resource(MAIL, "m-1"), resolve)
    assert decision.allowed
    assert asked == [Condition.ACTIVE_GRANT]
    asked.clear()
    shipped.decide(clerk, Action.RESTORE, Resource(ResourceKind.BACKUP, "b-1"), resolve)
    assert asked == []


def test_conditions_needed_lists_only_what_the_gate_must_resolve(shipped: Engine) -> None:
    clerk = staff(Role.SUPPORT)
    assert shipped.conditions_needed(clerk, Action.READ, MAIL) == GRANT
    assert shipped.conditions_needed(clerk, Action.LIST_METADATA,
                                     ResourceKind.MAILBOX_METADATA) == frozenset()
    legal = staff(Role.LEGAL)
    assert shipped.conditions_needed(legal, Action.DISCLOSE, ResourceKind.PERSONAL_DETAILS) == {
        Condition.COURT_ORDER
    }
    customer = Actor(ActorKind.CUSTOMER, "customer-1")
    # Ownership is derived by the engine, never asked of the gate.
    assert shipped.conditions_needed(customer, Action.READ, MAIL) == frozenset()


def test_ownership_is_derived_and_cannot_be_asserted(shipped: Engine) -> None:
    customer = Actor(ActorKind.CUSTOMER, "customer-1")
    own = Resource(MAIL, "mailbox-1", owner="customer-1")
    other = Resource(MAIL, "mailbox-2", owner="customer-2")
    assert shipped.decide(customer, Action.READ, own).allowed
    claimed = frozenset({Condition.OWNS_RESOURCE})
    decision = shipped.decide(customer, Action.READ, other, claimed)
    assert not decision.allowed
    assert "without owns_resource" in decision.reason


def test_staff_mail_needs_a_grant(shipped: Engine) -> None:
    box = Resource(MAIL, "mailbox-1", owner="customer-1")
    for role in (Role.SUPPORT, Role.SYSADMIN):
        denied = shipped.decide(staff(role), Action.READ, box)
        assert denied.rule_id == "mailbox-closed-to-staff"
        allowed = shipped.decide(staff(role), Action.READ, box, GRANT)
        assert allowed.rule_id == "staff-read-mail-under-grant"
    assert not shipped.decide(staff(Role.LEGAL), Action.READ, box, GRANT).allowed


def test_several_roles_forbid_of_any_role_wins(shipped: Engine) -> None:
    backup = Resource(ResourceKind.BACKUP, "backup-1")
    assert shipped.decide(staff(Role.SYSADMIN), Action.RESTORE, backup).allowed
    both = staff(Role.SYSADMIN, Role.SUPPORT)
    decision = shipped.decide(both, Action.RESTORE, backup)
    assert (decision.allowed, decision.rule_id) == (False, "support-never-touches-backups")


def test_several_roles_permit_of_any_role_allows(shipped: Engine) -> None:
    both = staff(Role.LEGAL, Role.SUPPORT)
    metadata = Resource(ResourceKind.MAILBOX_METADATA, "mailbox-1")
    decision = shipped.decide(both, Action.LIST_METADATA, metadata)
    assert decision.allowed
    assert decision.obligations == (Obligation.METADATA_ONLY.value,)
    order = Resource(ResourceKind.PERSONAL_DETAILS, "p-1")
    court = frozenset({Condition.COURT_ORDER})
    assert shipped.decide(both, Action.DISCLOSE, order, court).rule_id == (
        "legal-discloses-under-court-order"
    )
    assert shipped.conditions_needed(both, Action.DISCLOSE, ResourceKind.PERSONAL_DETAILS) == court


def test_staff_without_a_role_gets_nothing(shipped: Engine) -> None:
    decision = shipped.decide(staff(), Action.LIST_METADATA,
                              Resource(ResourceKind.MAILBOX_METADATA, "m"))
    assert not decision.allowed
    assert "staff without a role" in decision.reason


def test_other_roles_and_third_parties_have_no_technical_access(shipped: Engine) -> None:
    details = Resource(ResourceKind.PERSONAL_DETAILS, "p-1", owner="customer-1")
    for actor in (staff(Role.OTHER), staff(Role.COMMUNICATIONS),
                  Actor(ActorKind.THIRD_PARTY, "tp-1"), Actor(ActorKind.PUBLIC, "anon")):
        for action in (Action.READ, Action.EXPORT, Action.IDENTIFY):
            assert not shipped.decide(actor, action, details).allowed


def test_a_third_party_is_refused_by_an_explicit_forbid(shipped: Engine) -> None:
    decision = shipped.decide(Actor(ActorKind.THIRD_PARTY, "tp-1"), Action.DISCLOSE,
                              Resource(ResourceKind.PERSONAL_DETAILS, "p-1"),
                              frozenset({Condition.COURT_ORDER}))
    assert decision.rule_id == "third-parties-never-act-directly"


def test_explain_lists_every_rule_consulted(shipped: Engine) -> None:
    result = explain(shipped, staff(Role.SUPPORT), Action.READ, Resource(MAIL, "m-1"))
    assert result.decision.rule_id == "mailbox-closed-to-staff"
    consulted = [(t.rule.id, t.matched, t.note) for t in result.consulted]
    assert consulted == [
        ("mailbox-closed-to-staff", True, "applies: active_grant missing"),
        ("staff-read-mail-under-grant", False, "needs active_grant"),
    ]


def test_engine_refuses_duplicate_ids_and_misplaced_conditions() -> None:
    r = rule("same", Effect.PERMIT, {Role.SUPPORT}, {Action.READ}, {MAIL})
    with pytest.raises(InvalidInput, match="duplicate rule id"):
        Engine([r, r])
    with pytest.raises(InvalidInput, match="cannot apply to backup"):
        rule("bad", Effect.PERMIT, {Role.SYSADMIN}, {Action.RESTORE}, {ResourceKind.BACKUP},
             when={Condition.ACTIVE_GRANT})
    with pytest.raises(InvalidInput, match="unless is only for forbids"):
        rule("bad", Effect.PERMIT, {Role.SUPPORT}, {Action.READ}, {MAIL},
             unless={Condition.ACTIVE_GRANT})
