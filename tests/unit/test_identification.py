"""Caller identification on in-memory twins: one-time codes by e-mail and SMS, wrong / expired /
replayed codes (only the attempt counter changes), limited attempts, session confirmation,
every outcome ledgered, and the gate's caller_identified condition built on them."""

from __future__ import annotations

import pytest

from entrusted.domain.policy import Action, Resource, ResourceKind
from entrusted.domain.registry import IdentificationMethod, IdentificationOutcome
from entrusted.errors import Conflict, InvalidInput, NotFound, RateLimited, Unavailable
from entrusted.services.gate import AccessContext
from tests.refusals import default_denied
from tests.unit.registry_world import SUPPORT, SUPPORT2, SYSADMIN, World, customer

pytestmark = pytest.mark.promise("P1")


@pytest.fixture
def world() -> World:
    return World()


def stored(world: World, identification_id: str) -> tuple[int, IdentificationOutcome]:
    ident, _ = world.store.state.identifications[identification_id]
    return ident.attempts, ident.outcome


def test_email_code_identifies_the_caller_once(world: World) -> None:
    alice = world.register()
    world.mailer.sent.clear()
    started = world.identification.start(SUPPORT, alice, "email_code")
    (mail,) = world.mailer.sent
    assert mail.to == world.registry.details(customer(alice), alice).details.email
    code = world.last_code()
    assert code.isdigit()
    # Only an HMAC of the code is stored.
    _, digest = world.store.state.identifications[started.id]
    assert digest is not None
    assert code.encode() not in digest
    done = world.identification.verify(SUPPORT, started.id, code)
    assert (done.outcome, done.attempts, done.completed_at) == (
        IdentificationOutcome.VERIFIED,
        1,
        world.clock.now,
    )
    with pytest.raises(Conflict, match="already used"):
        world.identification.verify(SUPPORT, started.id, code)
    assert stored(world, started.id) == (2, IdentificationOutcome.VERIFIED)
    outcomes = [e for e in world.ledger.entries if e.rule == "registry.identification"]
    assert [(e.decision, e.actor_id, e.owner) for e in outcomes] == [
        ("allow", SUPPORT.id, alice),
        ("deny", SUPPORT.id, alice),
    ]
    assert "email_code" in outcomes[0].reason


def test_sms_code_goes_to_the_mobile_on_file(world: World) -> None:
    alice = world.register()
    started = world.identification.start(SUPPORT, alice, "sms_code")
    (sms,) = world.sms.sent
    assert sms.to == world.registry.details(customer(alice), alice).details.mobile
    code = sms.text.split("code is ")[1][:6]
    assert world.identification.verify(SUPPORT, started.id, code).outcome == "verified"


def test_wrong_code_counts_an_attempt_and_changes_nothing_else(world: World) -> None:
    alice = world.register()
    started = world.identification.start(SUPPORT, alice, "email_code")
    code = world.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(InvalidInput, match="4 attempt") as info:
        world.identification.verify(SUPPORT, started.id, wrong)
    assert info.value.field == "code"
    assert stored(world, started.id) == (1, IdentificationOutcome.PENDING)
    assert world.identification.verify(SUPPORT, started.id, code).outcome == "verified"


def test_attempts_are_limited(world: World) -> None:
    alice = world.register()
    started = world.identification.start(SUPPORT, alice, "email_code")
    code = world.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        with pytest.raises(InvalidInput):
            world.identification.verify(SUPPORT, started.id, wrong)
    with pytest.raises(InvalidInput, match="no attempts left"):
        world.identification.verify(SUPPORT, started.id, wrong)
    assert stored(world, started.id) == (5, IdentificationOutcome.FAILED)
    with pytest.raises(Conflict, match="too many wrong codes"):
        world.identification.verify(SUPPORT, started.id, code)


def test_expired_code_is_refused(world: World) -> None:
    alice = world.register()
    started = world.identification.start(SUPPORT, alice, "email_code")
    world.clock.advance(minutes=10)
    with pytest.raises(InvalidInput, match="expired"):
        world.identification.verify(SUPPORT, started.id, world.last_code())
    assert stored(world, started.id) == (1, IdentificationOutcome.PENDING)


def test_bad_method_missing_mobile_and_dead_relay_store_nothing(world: World) -> None:
    alice = world.register(mobile=False)
    with pytest.raises(InvalidInput) as info:
        world.identification.start(SUPPORT, alice, "carrier_pigeon")
    assert info.value.field == "method"
    with pytest.raises(InvalidInput, match="no mobile"):
        world.identification.start(SUPPORT, alice, "sms_code")
    world.mailer.fail = True
    with pytest.raises(Unavailable):
        world.identification.start(SUPPORT, alice, "email_code")
    with pytest.raises(InvalidInput) as info:
        world.identification.start(SUPPORT, alice, "email_code", contract_id="ctr_other")
    assert info.value.field == "contract_id"
    assert world.store.state.identifications == {}
    with pytest.raises(NotFound):
        world.identification.verify(SUPPORT, "idn_missing", "123456")


def test_sysadmin_cannot_identify_callers(world: World) -> None:
    alice = world.register()
    with default_denied("sysadmin to identify personal_details", ledger=world.ledger):
        world.identification.start(SYSADMIN, alice, "email_code")
    assert world.store.state.identifications == {}


def test_session_confirmation_by_the_customer_only(world: World) -> None:
    alice, bob = world.register(), world.register()
    started = world.identification.start(SUPPORT, alice, "session")
    assert started.method is IdentificationMethod.SESSION
    with default_denied(
        "customer to update personal_details", without="owns_resource", ledger=world.ledger
    ):
        world.identification.confirm(customer(bob), started.id)
    with pytest.raises(Conflict):
        world.identification.verify(SUPPORT, started.id, "123456")
    done = world.identification.confirm(customer(alice), started.id)
    assert done.outcome is IdentificationOutcome.VERIFIED
    with pytest.raises(Conflict):
        world.identification.confirm(customer(alice), started.id)


def contract_of(world: World, holder: str) -> Resource:
    (contract,) = world.store.state.contracts.values()
    return Resource(ResourceKind.CONTRACT, contract.id, owner=holder)


def test_caller_identified_is_per_staff_member_customer_case_and_hour(world: World) -> None:
    from entrusted.services.registry_forms import ServiceRequest

    alice = world.register(services=(ServiceRequest("website", "www.example.com"),))
    resource = contract_of(world, alice)
    with default_denied(
        "support to read contract", without="caller_identified", ledger=world.ledger
    ):
        world.gate.decide(SUPPORT, Action.READ, resource)
    world.identify(SUPPORT, alice, case_id="case_1")
    assert world.gate.decide(SUPPORT, Action.READ, resource).allowed
    assert world.gate.decide(
        SUPPORT, Action.READ, resource, AccessContext(case_id="case_1")
    ).allowed
    with default_denied(
        "support to read contract", without="caller_identified", ledger=world.ledger
    ):
        world.gate.decide(SUPPORT, Action.READ, resource, AccessContext(case_id="case_2"))
    with default_denied(
        "support to read contract", without="caller_identified", ledger=world.ledger
    ):
        world.gate.decide(SUPPORT2, Action.READ, resource)
    world.clock.advance(minutes=61)
    with default_denied(
        "support to read contract", without="caller_identified", ledger=world.ledger
    ):
        world.gate.decide(SUPPORT, Action.READ, resource)


def test_confirmation_conflicts_are_ledgered(world: World) -> None:
    """Confirming a code identification, or one no longer pending, is a Conflict that changes
    nothing and is ledgered as a refused identification (as `verify`'s conflicts are)."""
    alice = world.register()
    by_code = world.identification.start(SUPPORT, alice, "email_code")
    by_session = world.identification.start(SUPPORT, alice, "session")
    world.identification.confirm(customer(alice), by_session.id)

    def last_refusal() -> tuple[str, str, str]:
        entry = world.ledger.entries[-1]
        return entry.decision, entry.rule, entry.reason

    with pytest.raises(Conflict, match="one-time code"):
        world.identification.confirm(customer(alice), by_code.id)
    assert last_refusal()[:2] == ("deny", "registry.identification")
    assert "one-time code" in last_refusal()[2]
    assert stored(world, by_code.id) == (0, IdentificationOutcome.PENDING)
    with pytest.raises(Conflict, match="is verified"):
        world.identification.confirm(customer(alice), by_session.id)
    assert last_refusal()[:2] == ("deny", "registry.identification")
    assert "is verified" in last_refusal()[2]
    with pytest.raises(Conflict, match="customer's session"):
        world.identification.verify(SUPPORT, by_session.id, "123456")
    assert last_refusal()[:2] == ("deny", "registry.identification")
    assert stored(world, by_session.id) == (1, IdentificationOutcome.VERIFIED)


def test_codes_to_one_customer_are_bounded_per_hour(world: World) -> None:
    """Trial finding: 16 identifications in 4 s sent 17 codes to one customer."""
    alice = world.register()
    world.mailer.sent.clear()
    for agent in (SUPPORT, SUPPORT2) * 3:  # all staff together
        if len(world.mailer.sent) == 5:
            break
        world.identification.start(agent, alice, "email_code")
    assert len(world.mailer.sent) == 5
    with pytest.raises(RateLimited) as limited:
        world.identification.start(SUPPORT2, alice, "email_code")
    assert 0 < limited.value.retry_after_s <= 3600
    assert len(world.mailer.sent) == 5  # nothing more reached the customer
    last = world.ledger.entries[-1]
    assert (last.decision, last.rule, last.owner) == (
        "deny",
        "registry.identification-codes-throttled",
        alice,
    )
    world.clock.advance(seconds=3601)
    world.identification.start(SUPPORT, alice, "email_code")
    assert len(world.mailer.sent) == 6
