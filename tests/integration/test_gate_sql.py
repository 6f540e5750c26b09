"""The gate wired by the composition root, on SQLite and PostgreSQL: decisions land in the
durable ledger, unknown staff are refused and ledgered, a read-only database refuses every
access, and the running rules are checked and their changes ledgered at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from entrusted.adapters.db.ledger_store import SqlLedgerStore
from entrusted.adapters.db.ledger_writer import GroupCommitLedger
from entrusted.adapters.db.policy_store import SqlStaffDirectory
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.domain.audit import AuditEntry
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind, Role
from entrusted.errors import Conflict, InvalidInput, Unavailable
from entrusted.services.gate import Gate
from tests.conftest import FakeClock, count_rows
from tests.refusals import refused_by

pytestmark = pytest.mark.promise("P3", "P12")

PASSWORD = "correct horse battery"
METADATA = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner="cus_1")


def staff_actor(container: Container, role: str = "support") -> Actor:
    member = container.staff.add(f"{role}1", "Someone", [role], PASSWORD)
    return Actor(ActorKind.STAFF, member.id, member.roles)


def ledgered(container: Container) -> list[AuditEntry]:
    """The gate's entries about customer data (staff administration is ledgered too)."""
    store = container.ledger_store
    entries = [AuditEntry.from_bytes(b) for b in store.entries(0, store.stored_size())]
    return [e for e in entries if e.resource_kind != "staff_account"]


def test_decisions_are_durable_entries(container: Container) -> None:
    actor = staff_actor(container)
    audited = container.gate.decide(actor, Action.LIST_METADATA, METADATA)
    with refused_by("mailbox-closed-to-staff", ledger=lambda: ledgered(container)[-1]):
        container.gate.decide(
            actor, Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1", "cus_1")
        )
    entries = ledgered(container)
    assert [e.decision for e in entries] == ["allow", "deny"]
    assert entries[0].rule == audited.decision.rule_id
    reopened = SqlLedgerStore(container.engine)
    reopened.open()
    assert reopened.size == container.ledger_store.stored_size()


def test_unknown_or_disabled_staff_is_invalid_and_ledgered(container: Container) -> None:
    ghost = Actor(ActorKind.STAFF, "stf_ghost", frozenset(staff_actor(container).roles))
    with pytest.raises(InvalidInput):
        container.gate.decide(ghost, Action.LIST_METADATA, METADATA)
    container.staff.disable("support1")
    member = container.staff.get("support1")
    gone = member.id
    with pytest.raises(InvalidInput):
        container.gate.decide(
            Actor(ActorKind.STAFF, member.id, member.roles), Action.LIST_METADATA, METADATA
        )
    # Each names its own cause (an audit tells a typo'd id from a disabled account).
    said = "invalid request: actor:"
    assert [(e.decision, e.rule, e.reason) for e in ledgered(container)] == [
        ("deny", "gate.invalid-request", f"{said} no staff member stf_ghost"),
        ("deny", "gate.invalid-request", f"{said} staff member {gone} is disabled"),
    ]


def test_a_role_the_member_does_not_hold_is_invalid_and_ledgered(container: Container) -> None:
    """The gate does not take the caller's word for roles: a support agent's id presented with
    `sysadmin` would open the backups (P15). Holding fewer roles than stored is fine."""
    member = container.staff.add("both1", "Someone", ["support", "sysadmin"], PASSWORD)
    support_only = Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT}))
    assert container.gate.decide(support_only, Action.LIST_METADATA, METADATA).allowed
    agent = staff_actor(container)
    claimed = Actor(ActorKind.STAFF, agent.id, frozenset({Role.SUPPORT, Role.SYSADMIN}))
    backup = Resource(ResourceKind.BACKUP, "bkp_1", owner="cus_1")
    with pytest.raises(InvalidInput) as info:
        container.gate.decide(claimed, Action.READ, backup)
    said = f"actor: staff member {agent.id} does not hold the role(s) sysadmin"
    assert info.value.message == said
    last = ledgered(container)[-1]
    assert last.reason == f"invalid request: {said}"
    assert (last.decision, last.rule, last.actor_roles) == (
        "deny",
        "gate.invalid-request",
        ("support", "sysadmin"),
    )


def test_a_role_taken_away_is_refused_once_the_cache_expires(container: Container) -> None:
    directory = SqlStaffDirectory(container.engine, ttl_s=0.0)
    member = container.staff.add("both1", "Someone", ["support", "sysadmin"], PASSWORD)
    actor = Actor(ActorKind.STAFF, member.id, member.roles)
    assert directory.known(actor)
    container.staff.set_roles("both1", ["support"])
    assert not directory.known(actor)
    assert directory.known(Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT})))


def test_a_role_just_given_is_named_as_such_and_the_stale_answer_dropped(
    container: Container,
) -> None:
    """Within the cache's lifetime a role given a moment ago is not yet seen: that refusal
    says so (trial: it claimed the roles "changed while it was decided"), and asking again
    is allowed at once."""
    directory = SqlStaffDirectory(container.engine, ttl_s=60.0)
    member = container.staff.add("both1", "Someone", ["support"], PASSWORD)
    assert directory.known(Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT})))
    container.staff.set_roles("both1", ["support", "sysadmin"])
    both = Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT, Role.SYSADMIN}))
    assert not directory.known(both)  # the cached answer, a second old at most
    said = directory.why_unknown(both)
    assert said == f"staff member {member.id} was given a role a moment ago; ask again"
    assert directory.known(both)


def test_read_only_database_refuses_every_access(
    container: Container, database_url: str, clock: FakeClock
) -> None:
    actor = staff_actor(container)
    before = count_rows(container.engine, "ledger_entry")
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        ro_url = f"sqlite:///file:{url.database}?mode=ro&uri=true"
    else:
        ro_url = url.update_query_dict(
            {"options": url.query["options"] + " -cdefault_transaction_read_only=on"}
        ).render_as_string(hide_password=False)
    from entrusted.adapters.db.engine import make_engine

    ro_engine = make_engine(ro_url)
    ledger = GroupCommitLedger(SqlLedgerStore(ro_engine))
    gate = Gate(container.gate.engine, ledger, clock)
    try:
        with pytest.raises(Unavailable):
            gate.decide(actor, Action.LIST_METADATA, METADATA)
    finally:
        ledger.stop()
        ro_engine.dispose()
    assert count_rows(container.engine, "ledger_entry") == before


def test_start_ledgers_rules_once_and_again_on_change(
    container: Container, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    notes = container.start("ops@host")
    assert any("deployed" in n for n in notes)
    assert not any("deployed" in n for n in container.start("ops@host"))
    (first,) = ledgered(container)
    assert (first.action, first.resource_kind, first.actor_id) == (
        "publish",
        "policy_rules",
        "ops@host",
    )
    container.close()
    changed = tmp_path / "rules.yaml"
    text = DEFAULT_RULES_PATH.read_text()
    changed.write_text(
        text.replace(
            "    who: [support]\n    actions: [identify]",
            "    who: [support, sysadmin]\n    actions: [identify]",
            1,
        )
    )
    c2 = build(
        Settings(
            data_dir=settings.data_dir, database_url=settings.database_url, rules_file=changed
        ),
        clock=clock,
    )
    try:
        c2.start("alice@host")
        entries = ledgered(c2)
        assert len(entries) == 2
        assert "1 permission(s) added" in entries[1].reason
        assert "sysadmin may identify personal_details" in entries[1].reason
        assert entries[1].refs["old_sha256"] == container.ruleset.sha256
    finally:
        c2.close()


def test_start_refuses_rules_that_break_an_invariant(
    settings: Settings, clock: FakeClock, tmp_path: Path, container: Container
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DEFAULT_RULES_PATH.read_text().replace(
            "rules:\n",
            "rules:\n  - id: support-restores\n    effect: permit\n    who: [office_hack]\n",
            1,
        )
    )
    with pytest.raises(InvalidInput):
        build(
            Settings(
                data_dir=settings.data_dir, database_url=settings.database_url, rules_file=bad
            ),
            clock=clock,
        )
    bad.write_text(
        DEFAULT_RULES_PATH.read_text().replace(
            "rules:\n",
            "rules:\n  - id: support-restores\n    effect: permit\n    who: [legal]\n"
            "    actions: [restore]\n    resources: [backup]\n    implements: [P15]\n"
            "    reason: a bad idea\n",
            1,
        )
    )
    c2 = build(
        Settings(data_dir=settings.data_dir, database_url=settings.database_url, rules_file=bad),
        clock=clock,
    )
    try:
        with pytest.raises(Conflict) as info:
            c2.start("ops@host")
        assert "support-restores" in info.value.message
        assert count_rows(c2.engine, "policy_deployment") == 0
    finally:
        c2.close()


def test_the_demo_step_shows_forged_requests_refused_and_ledgered(container: Container) -> None:
    from faker import Faker

    from entrusted.entrypoints.cli.demo import DEMO_PASSWORD, DEMO_STAFF
    from entrusted.entrypoints.cli.demo_gate import gate_step

    c = container
    for name, roles in DEMO_STAFF:
        c.staff.add(f"demo.{name}", name.title(), roles, DEMO_PASSWORD)
    support = next(m for m in c.staff.list_members() if m.username == "demo.support")
    gate_step(c, Faker())
    *asked, claimed, control = ledgered(c)
    assert len(asked) == 7
    # The two forged requests: refused by the request check, never by a policy rule, and
    # ledgered as asked (the support agent's own id; the id made showable, not dropped).
    assert (claimed.rule, claimed.decision, claimed.actor_id) == (
        "gate.invalid-request",
        "deny",
        support.id,
    )
    assert claimed.reason.endswith(f"staff member {support.id} does not hold the role(s) sysadmin")
    assert (control.rule, control.decision, control.resource_kind) == (
        "gate.invalid-request",
        "deny",
        "mailbox_metadata",
    )
    assert control.resource_id != "mbx_1\x1b[2J"
    assert "printable" in control.reason
