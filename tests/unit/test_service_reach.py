"""Issue 11 item 1 and item 3 in the domain: each service token reaches only what its
integration needs (the shipped invariants say so and catch a planted widening), and a mail
path template is expanded in one pass."""

from __future__ import annotations

from dataclasses import replace

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.mail import mailbox_root
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Effect,
    Engine,
    Resource,
    ResourceKind,
    Rule,
    Service,
    service_principal,
)
from entrusted.domain.policy_analysis import RuleSet, check_invariants
from entrusted.domain.registry import CLI_OPERATOR_PREFIX

pytestmark = pytest.mark.promise("P8", "P12")

# Pinned: deleting or renaming a shipped invariant must be a visible change to this list.
SHIPPED_INVARIANTS = {
    "technical-access-only-sysadmin-and-support",
    "mailbox-content-needs-a-grant",
    "ftp-space-needs-a-grant",
    "support-never-lists-or-restores-backups",
    "nobody-reads-backup-content",
    "disclosure-needs-a-court-order",
    "customer-file-is-never-exported",
    "mailings-only-to-own-customers-for-allowed-purposes",
    "third-parties-get-nothing",
    "customers-only-touch-their-own-data",
    "consent-follows-identification",
    "policy-document-is-readable-by-anyone",
    "signup-only-registers",
    "provisioning-only-syncs",
    "mail-and-ftp-hooks-reach-no-data",
    "worker-only-expires-and-keeps-backups",
    "operator-only-registers-and-expires",
    "support-always-sees-mailbox-metadata",
}


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(DEFAULT_RULES_PATH)


def test_the_shipped_invariants_are_pinned_and_hold(shipped: RuleSet) -> None:
    assert {inv.id for inv in shipped.invariants} >= SHIPPED_INVARIANTS
    assert check_invariants(shipped) == []


def test_service_actors_map_to_their_integration() -> None:
    assert service_principal("signup") is Service.SIGNUP
    assert service_principal("worker") is Service.WORKER
    assert service_principal(CLI_OPERATOR_PREFIX + "ops@host") is Service.OPERATOR
    assert service_principal("operator") is ActorKind.SERVICE  # only the console is the operator
    assert service_principal("retired-integration") is ActorKind.SERVICE


@pytest.mark.parametrize(
    ("service", "action", "kind", "allowed"),
    [
        ("signup", Action.CREATE, ResourceKind.PERSONAL_DETAILS, True),
        ("signup", Action.DELETE, ResourceKind.GRANT, False),
        ("mail_hook", Action.DELETE, ResourceKind.GRANT, False),
        ("ftp_server", Action.CREATE, ResourceKind.CONTRACT, False),
        ("worker", Action.DELETE, ResourceKind.GRANT, True),
        ("worker", Action.CREATE, ResourceKind.PERSONAL_DETAILS, False),
        ("signup", Action.DESTROY, ResourceKind.BACKUP, False),
        ("retired-integration", Action.CREATE, ResourceKind.PERSONAL_DETAILS, False),
    ],
)
def test_each_service_reaches_only_its_integration(
    shipped: RuleSet, service: str, action: Action, kind: ResourceKind, allowed: bool
) -> None:
    decision = Engine(shipped.rules).decide(
        Actor(ActorKind.SERVICE, service), action, Resource(kind, "x", owner="cus_1")
    )
    assert decision.allowed is allowed, decision.reason


def test_a_rule_letting_every_service_delete_grants_is_caught(shipped: RuleSet) -> None:
    """The hole of issue 11: `who: [service]` on grant deletion breaks three invariants."""
    planted = Rule("grants-expire-by-service", Effect.PERMIT, frozenset({ActorKind.SERVICE}),
                   frozenset({Action.DELETE}), frozenset({ResourceKind.GRANT}), ("P11",), "wrong")
    broken = replace(shipped, rules=(*shipped.rules, planted))
    hit = {(v.invariant.id, v.request.principal) for v in check_invariants(broken)}
    assert hit == {
        ("signup-only-registers", Service.SIGNUP),
        ("mail-and-ftp-hooks-reach-no-data", Service.MAIL_HOOK),
        ("mail-and-ftp-hooks-reach-no-data", Service.FTP_SERVER),
        ("provisioning-only-syncs", Service.PROVISIONING),  # issue 17's token is confined too
    }
    assert all(v.rule_ids == ("grants-expire-by-service",) for v in check_invariants(broken))


def test_mail_path_template_is_expanded_in_one_pass() -> None:
    template = "/srv/mail/%d/%n/Maildir"
    # Before the fix `%d@example.org` became /srv/mail/example.org/example.org: D@D's mailbox.
    assert mailbox_root(template, "%d@example.org") == "/srv/mail/example.org/%d/Maildir"
    assert mailbox_root("/m/%u", "%n%u@example.org") == "/m/%n%u@example.org"
    assert mailbox_root("/m/%%d/%d", "a@example.org") == "/m/%d/example.org"
    assert mailbox_root(template, "info@example.org") == "/srv/mail/example.org/info/Maildir"
