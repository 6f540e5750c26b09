"""Staff lifecycle and staff authentication on both databases (issue 10 item 4, issue 11 items
5-8): disabling a member or taking a role ends their grants, their mail sessions and their
tokens at once; every administrative step is ledgered by id; tokens are capped and minted
only with a fresh second-factor code; a TOTP code works once, its seed is sealed, and an
active second factor is replaced only with a code from it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.bootstrap import Container, build, console_operator, initialise
from entrusted.config import Settings
from entrusted.crypto.envelope import create_master_key_file
from entrusted.crypto.totp import current_code
from entrusted.domain.audit import AuditEntry
from entrusted.domain.cases import Grant, GrantEnd, GrantOrigin
from entrusted.domain.policy import (
    Action,
    Effect,
    Resource,
    ResourceKind,
    Rule,
    Service,
)
from entrusted.domain.policy_analysis import check_invariants
from entrusted.domain.registry import ServiceKind
from entrusted.errors import AuthenticationFailed, Conflict, InvalidInput, Refused
from tests.conftest import FakeClock
from tests.integration.test_consent_sql import register
from tests.integration.test_registry_sql import ledgered, raw_rows
from tests.refusals import refused_by

pytestmark = pytest.mark.promise("P8", "P11", "P12")

PASSWORD = "correct horse battery"
NAME = "Quentin Example"  # never in the ledger: entries name ids only


def granted(c: Container, username: str) -> tuple[str, Grant]:
    """A support member `username` holding a mailbox grant on an open case. The grant is
    stored through the consent repository directly: how consent is obtained is tested in
    test_consent_sql.py, and here only how it ends matters."""
    member = c.staff.add(username, NAME, ["support"], PASSWORD)
    actor = c.staff.authenticate(c.staff.issue_token(username, "laptop").secret)
    cus, ctr, svc = register(c, 1)
    case = c.cases.open(actor, ctr, "Webmail error")
    now = c.clock()
    grant = Grant(
        id="gnt_lifecycle", case_id=case.id, customer_id=cus, contract_id=ctr,
        service_id=svc["mailbox"], service_kind=ServiceKind.MAILBOX, staff_id=member.id,
        read_only=True, max_sessions=1, origin=GrantOrigin.REQUEST, source_id="req_lifecycle",
        approved_by=cus, created_at=now, expires_at=now + timedelta(hours=4),
    )  # fmt: skip
    with c.uow() as uow:
        uow.grants.add(grant)  # type: ignore[attr-defined]
        uow.commit()
    return member.id, grant


def grant_now(c: Container, grant_id: str) -> Grant:
    with c.uow() as uow:
        found: Grant | None = uow.grants.get(grant_id)  # type: ignore[attr-defined]
    assert found is not None
    return found


def entries_for(c: Container, staff_id: str) -> list[AuditEntry]:
    return [e for e in ledgered(c) if e.resource_id == staff_id]


class KickRecorder:
    """A server's `GrantSessions` that records which grants' sessions it was told to close."""

    def __init__(self, kicked: list[str]) -> None:
        self.kicked = kicked

    def kick(self, grant: Grant) -> None:
        self.kicked.append(grant.id)

    def end(self, session_id: str) -> None:
        raise AssertionError(f"no session {session_id} is closed here, only grants ended")


def seed_of(uri: str) -> str:
    return parse_qs(urlsplit(uri).query)["secret"][0]


# --- the lifecycle (issue 10 item 4) ---------------------------------------------------------


def test_disabling_ends_grants_mail_sessions_and_tokens_at_once(container: Container) -> None:
    c = container
    staff_id, grant = granted(c, "quentin")
    token = c.staff.issue_token("quentin", "desk").secret
    kicked: list[str] = []
    c.grant_entry.serve(ResourceKind.MAILBOX_CONTENT, KickRecorder(kicked))  # as the mail server
    c.staff.disable("quentin")
    ended = grant_now(c, grant.id)
    assert ended.end_reason is GrantEnd.STAFF_DISABLED
    assert kicked == [grant.id]
    with pytest.raises(AuthenticationFailed):
        c.staff.authenticate(token)
    rules = [(e.rule, e.reason) for e in ledgered(c) if e.refs.get("grant") == grant.id]
    assert ("consent.grant-ended", "grant ended: staff_disabled") in rules
    mine = [(e.decision, e.rule, e.actor_id) for e in entries_for(c, staff_id)]
    operator = console_operator().id
    assert ("allow", "operator-administers-staff-accounts", operator) in mine
    assert ("allow", "staff.disabled", operator) in mine


def test_taking_a_role_away_ends_the_grants_it_carried(container: Container) -> None:
    c = container
    staff_id, grant = granted(c, "quentin")
    c.staff.set_roles("quentin", ["support", "legal"])  # nothing taken away: the grant stays
    assert grant_now(c, grant.id).ended_at is None
    c.staff.set_roles("quentin", ["legal"])
    assert grant_now(c, grant.id).end_reason is GrantEnd.ROLE_REMOVED
    changed = [e.reason for e in entries_for(c, staff_id) if e.rule == "staff.roles-changed"]
    assert changed == ["roles support -> legal,support", "roles legal,support -> legal"]
    with pytest.raises(InvalidInput) as info:
        c.staff.set_roles("quentin", [])
    assert info.value.field == "roles"


# --- administration is ledgered, by id (issue 11 item 6) -----------------------------------


def test_every_administrative_step_is_ledgered_by_id_only(
    container: Container, clock: FakeClock
) -> None:
    c = container
    member = c.staff.add("quentin", NAME, ["support"], PASSWORD)
    uri = c.staff.enroll_totp("quentin")
    c.staff.confirm_totp("quentin", current_code(seed_of(uri), clock().timestamp()))
    issued = c.staff.issue_token("quentin", "desk")
    c.staff.revoke_token(issued.token.id)
    c.staff.set_roles("quentin", ["sysadmin"])
    c.staff.disable("quentin")
    service = c.staff.issue_service_token("mail_hook", "mx1")
    outcomes = [e.rule for e in entries_for(c, member.id) if e.rule and e.rule.startswith("staff.")]
    assert outcomes == [
        "staff.added",
        "staff.totp-enrolment-started",
        "staff.totp-confirmed",
        "staff.token-issued",
        "staff.token-revoked",
        "staff.roles-changed",
        "staff.disabled",
    ]
    assert [e.rule for e in entries_for(c, service.token.id)][-1] == "staff.token-issued"
    body = b"".join(e.to_bytes() for e in ledgered(c))
    for secret in ("quentin", NAME, PASSWORD, seed_of(uri), issued.secret, service.secret):
        assert secret.encode() not in body


def test_a_sysadmin_may_administer_and_support_is_refused_and_ledgered(
    container: Container,
) -> None:
    c = container
    c.staff.add("root", NAME, ["sysadmin"], PASSWORD)
    c.staff.add("sam", NAME, ["support"], PASSWORD)
    admin = c.staff.authenticate(c.staff.issue_token("root", "desk").secret)
    clerk = c.staff.authenticate(c.staff.issue_token("sam", "desk").secret)
    c.staff.add("quentin", NAME, ["support"], PASSWORD, by=admin)
    with pytest.raises(Refused) as caught:
        c.staff.set_roles("quentin", ["sysadmin"], by=clerk)
    assert caught.value.decision.rule_id is None  # default deny: no rule lets support do it
    last = ledgered(c)[-1]
    assert (last.actor_id, last.decision, last.resource_kind) == (
        clerk.id, "deny", "staff_account"
    )
    assert c.staff.get("quentin").roles == {"support"}


# --- personal tokens (issue 11 item 7) ------------------------------------------------------


def test_minted_tokens_are_capped_and_need_a_fresh_code(
    settings: Settings, clock: FakeClock
) -> None:
    initialise(settings)
    c = build(settings.model_copy(update={"staff_totp_required": True}), clock=clock)
    try:
        c.staff.add("quentin", NAME, ["support"], PASSWORD)
        uri = c.staff.enroll_totp("quentin")
        seed = seed_of(uri)
        c.staff.confirm_totp("quentin", current_code(seed, clock().timestamp()))
        clock.advance(seconds=30)
        session = c.staff.login("quentin", PASSWORD, current_code(seed, clock().timestamp()), "x")
        member_id = session.token.staff_id
        assert member_id is not None
        with pytest.raises(Refused) as caught:
            c.staff.issue_token_for(member_id, "cli", None, None)
        assert caught.value.decision.rule_id == "staff.totp-code-refused"
        assert (ledgered(c)[-1].decision, ledgered(c)[-1].rule) == (
            "deny", "staff.totp-code-refused"
        )
        clock.advance(seconds=30)
        code = current_code(seed, clock().timestamp())
        with pytest.raises(InvalidInput) as info:
            c.staff.issue_token_for(member_id, "cli", 3650, code)
        assert info.value.field == "ttl_days"
        minted = c.staff.issue_token_for(member_id, "cli", None, code)
        assert minted.token.expires_at - clock() == timedelta(days=90)
        assert ledgered(c)[-1].rule == "staff.token-issued"
        with refused_by("staff.totp-code-refused", ledger=lambda: ledgered(c)[-1]):
            c.staff.issue_token_for(member_id, "cli", None, code)  # the same code, again
    finally:
        c.close()


# --- the second factor (issue 11 item 8) ----------------------------------------------------


def test_a_totp_code_works_once_and_the_seed_is_sealed(
    container: Container, clock: FakeClock
) -> None:
    c = container
    c.staff.add("quentin", NAME, ["support"], PASSWORD)
    seed = seed_of(c.staff.enroll_totp("quentin"))
    c.staff.confirm_totp("quentin", current_code(seed, clock().timestamp()))
    with pytest.raises(AuthenticationFailed):  # the confirming code is spent
        c.staff.login("quentin", PASSWORD, current_code(seed, clock().timestamp()), "x")
    clock.advance(seconds=30)
    code = current_code(seed, clock().timestamp())
    c.staff.login("quentin", PASSWORD, code, "x")
    with pytest.raises(AuthenticationFailed):
        c.staff.login("quentin", PASSWORD, code, "x")
    assert not any(seed.encode() in cell for cell in raw_rows(c.engine))


def test_re_enrolling_needs_the_current_code_and_keeps_the_old_factor_meanwhile(
    container: Container, clock: FakeClock
) -> None:
    c = container
    c.staff.add("quentin", NAME, ["support"], PASSWORD)
    old = seed_of(c.staff.enroll_totp("quentin"))
    c.staff.confirm_totp("quentin", current_code(old, clock().timestamp()))
    clock.advance(seconds=30)
    with pytest.raises(Refused) as caught:
        c.staff.enroll_totp("quentin")
    assert caught.value.decision.rule_id == "staff.totp-code-refused"
    assert ledgered(c)[-1].rule == "staff.totp-code-refused"
    new = seed_of(c.staff.enroll_totp("quentin", current_code(old, clock().timestamp())))
    assert c.staff.get("quentin").totp_enabled  # still on, under the old seed
    clock.advance(seconds=30)
    c.staff.login("quentin", PASSWORD, current_code(old, clock().timestamp()), "x")
    clock.advance(seconds=30)
    c.staff.confirm_totp("quentin", current_code(new, clock().timestamp()))
    clock.advance(seconds=30)
    with pytest.raises(AuthenticationFailed):
        c.staff.login("quentin", PASSWORD, current_code(old, clock().timestamp()), "x")
    c.staff.login("quentin", PASSWORD, current_code(new, clock().timestamp()), "x")


def test_staff_need_a_second_factor_by_default(settings: Settings, clock: FakeClock) -> None:
    assert Settings().staff_totp_required is True
    initialise(settings)
    c = build(settings.model_copy(update={"staff_totp_required": True}), clock=clock)
    try:
        c.staff.add("quentin", NAME, ["support"], PASSWORD)
        with pytest.raises(AuthenticationFailed) as info:
            c.staff.login("quentin", PASSWORD, None, "x")
        # the answer a wrong password gets: it must not confirm the password
        assert info.value.message == "invalid username, password or code"
        with pytest.raises(Conflict):
            c.staff.confirm_totp("quentin", "123456")
    finally:
        c.close()


# --- the operator (issue 11 item 5) ---------------------------------------------------------


def test_the_operator_administers_staff_but_reaches_no_customer_data(
    container: Container,
) -> None:
    c = container
    operator = console_operator()
    details = Resource(ResourceKind.PERSONAL_DETAILS, "cus_1", owner="cus_1")
    with pytest.raises(Refused) as caught:
        c.gate.decide(operator, Action.READ, details)
    assert caught.value.decision.rule_id is None
    assert (ledgered(c)[-1].actor_id, ledgered(c)[-1].decision) == (operator.id, "deny")
    shipped = load_rules(DEFAULT_RULES_PATH)
    planted = Rule("operator-peeks", Effect.PERMIT, frozenset({Service.OPERATOR}),
                   frozenset({Action.READ}), frozenset({ResourceKind.PERSONAL_DETAILS}),
                   ("P8",), "a deliberately wrong rule")  # fmt: skip
    broken = {v.invariant.id for v in check_invariants(replace(shipped, rules=(*shipped.rules,
                                                                            planted)))}
    assert "operator-never-reads-customer-data" in broken


def test_key_rotation_moves_totp_seeds_and_is_ledgered(
    settings: Settings, clock: FakeClock
) -> None:
    initialise(settings)
    c = build(settings, clock=clock)
    c.staff.add("quentin", NAME, ["support"], PASSWORD)
    seed = seed_of(c.staff.enroll_totp("quentin"))
    c.staff.confirm_totp("quentin", current_code(seed, clock().timestamp()))
    c.close()
    old_file, new_file = settings.data_dir / "master.key", settings.data_dir / "master-2.key"
    create_master_key_file(new_file)
    both = {"master_key_file": new_file, "previous_master_key_files": (old_file,)}
    c = build(settings.model_copy(update=both), clock=clock)
    try:
        assert c.staff.rotate_seeds("master key test: 0 customer key(s) re-wrapped") == 1
        assert c.staff.rotate_seeds("again") == 0  # already under the new key
        rotations = [e.reason for e in ledgered(c) if e.rule == "keys.rotated"]
        assert rotations == [
            "master key test: 0 customer key(s) re-wrapped; 1 staff TOTP seed(s) re-wrapped",
            "again; 0 staff TOTP seed(s) re-wrapped",
        ]
    finally:
        c.close()
    c = build(settings.model_copy(update={"master_key_file": new_file}), clock=clock)
    try:
        clock.advance(seconds=30)
        c.staff.login("quentin", PASSWORD, current_code(seed, clock().timestamp()), "x")
    finally:
        c.close()


def test_a_lost_authenticator_is_reset_explicitly_and_ledgered(
    container: Container, clock: FakeClock
) -> None:
    c = container
    member = c.staff.add("quentin", NAME, ["support"], PASSWORD)
    old = seed_of(c.staff.enroll_totp("quentin"))
    c.staff.confirm_totp("quentin", current_code(old, clock().timestamp()))
    c.staff.reset_totp("quentin")
    assert not c.staff.get("quentin").totp_enabled
    assert [e.rule for e in entries_for(c, member.id)][-1] == "staff.totp-reset"
    new = seed_of(c.staff.enroll_totp("quentin"))  # no code needed: nothing active
    clock.advance(seconds=30)
    c.staff.confirm_totp("quentin", current_code(new, clock().timestamp()))
    assert c.staff.get("quentin").totp_enabled
