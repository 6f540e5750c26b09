"""Support cannot walk the customer file (issue 11 item 4), on in-memory twins: a look-up
names a case or ticket, shows only what identification needs until the caller is identified,
is throttled per agent with an alert on unusual volume; another agent cannot verify (or use up
the attempts of) an identification they did not start. Every refusal names its outcome and is
the newest ledger entry."""

from __future__ import annotations

import pytest

from entrusted.adapters.contacts import Contacts
from entrusted.domain.audit import AuditEntry
from entrusted.domain.registry import IdentificationMethod, IdentificationOutcome
from entrusted.errors import InvalidInput, RateLimited, Refused
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.registry import RegistryParts, RegistryService
from entrusted.services.registry_forms import ServiceRequest
from entrusted.services.registry_lookup import (
    CallerLookup,
    LookupLimits,
    LookupThrottle,
    mask_email,
    mask_phone,
)
from tests.unit.registry_world import SIGNUP, SUPPORT, SUPPORT2, World

pytestmark = pytest.mark.promise("P1", "P2")

TICKET = AccessContext(ticket="HD-4711")
MAILBOX = ServiceRequest("mailbox", "shop@example.com")


@pytest.fixture
def world() -> World:
    return World()


def refused_with(caught: pytest.ExceptionInfo[Refused], world: World, outcome: Outcome) -> None:
    """The refusal names `outcome` and is the newest ledger entry, a denial under that id."""
    assert caught.value.decision.rule_id == outcome.value
    last = world.ledger.entries[-1]
    assert (last.decision, last.rule) == ("deny", outcome.value)


def test_a_lookup_without_case_or_ticket_is_refused_and_ledgered(world: World) -> None:
    alice = world.register()
    with pytest.raises(Refused) as caught:
        world.registry.summary(SUPPORT, alice)
    refused_with(caught, world, Outcome.LOOKUP_NEEDS_REASON)
    with pytest.raises(Refused) as caught:
        world.registry.find(SUPPORT, phone="+41 79 000 00 01")
    refused_with(caught, world, Outcome.LOOKUP_NEEDS_REASON)


def test_a_bad_ticket_is_invalid_input_and_a_good_one_is_ledgered(world: World) -> None:
    alice = world.register()
    with pytest.raises(InvalidInput) as info:
        world.registry.summary(SUPPORT, alice, AccessContext(ticket="anna@example.com"))
    assert info.value.field == "ticket"
    assert not any("anna@example.com" in e.refs.values() for e in world.ledger.entries)
    world.registry.summary(SUPPORT, alice, TICKET)
    identify = next(e for e in reversed(world.ledger.entries) if e.action == "identify")
    assert (identify.decision, identify.refs.get("ticket")) == ("allow", "HD-4711")


def test_masked_until_identified_then_name_and_contracts(world: World) -> None:
    form = world.people.form((MAILBOX,))
    alice = world.registry.register(SIGNUP, form).customer_id
    (view,) = world.registry.find(SUPPORT, email=form.email, context=TICKET)
    assert (view.id, view.identified, view.summary) == (alice, False, None)
    assert view.initials == f"{form.first_name[0]}. {form.last_name[0]}."
    assert view.email_hint == mask_email(form.email) != form.email
    assert form.email.split("@")[0] not in view.email_hint
    assert view.mobile_hint is not None
    assert view.mobile_hint.endswith(str(form.mobile)[-2:])
    assert "000" not in view.mobile_hint
    assert len(view.contract_ids) == 1
    assert IdentificationMethod.SMS_CODE in view.methods
    # The masked answer is recorded by the look-up's allowed `identify`, and is no refusal.
    last = world.ledger.entries[-1]
    assert (last.action, last.owner, last.decision) == ("identify", alice, "allow")
    assert not any(
        e.action == "read" and e.resource_kind == "contract" for e in world.ledger.entries
    )
    world.identify(SUPPORT, alice)
    full = world.registry.summary(SUPPORT, alice, TICKET)
    assert full.identified
    assert full.summary is not None
    assert (full.summary.last_name, full.summary.first_name) == (form.last_name, form.first_name)
    assert [s.name for s in full.summary.contracts[0].services] == ["shop@example.com"]
    shown = world.ledger.entries[-1]
    assert (shown.action, shown.resource_kind, shown.decision) == ("read", "contract", "allow")
    # Another agent's identification does not open it for SUPPORT2.
    assert world.registry.summary(SUPPORT2, alice, TICKET).summary is None


def test_lookups_are_throttled_per_agent_and_the_refusal_ledgered(world: World) -> None:
    alice = world.register()
    limit = world.registry.lookup.throttle.limits.per_minute
    for _ in range(limit):
        world.registry.summary(SUPPORT, alice, TICKET)
    with pytest.raises(RateLimited) as info:
        world.registry.summary(SUPPORT, alice, TICKET)
    assert 1 <= info.value.retry_after_s <= 60
    last = world.ledger.entries[-1]
    assert (last.decision, last.rule, last.actor_id) == (
        "deny",
        Outcome.LOOKUPS_THROTTLED.value,
        SUPPORT.id,
    )
    world.registry.summary(SUPPORT2, alice, TICKET)  # another agent has their own budget
    world.clock.advance(seconds=61)
    world.registry.summary(SUPPORT, alice, TICKET)


def test_unusual_volume_raises_an_alert_entry(world: World) -> None:
    alice = world.register()
    limits = LookupLimits(per_minute=50, alert_per_hour=12)
    parts = RegistryParts(
        world.store.unit_of_work, world.gate, lambda: world.keys, Contacts(), world.clock
    )
    lookup = CallerLookup(parts, LookupThrottle(limits, world.clock), None)
    world.registry = RegistryService(parts, world.auth, world.ledger, lookup)

    def alerts() -> list[AuditEntry]:
        return [e for e in world.ledger.entries if e.rule == Outcome.LOOKUP_VOLUME_ALERT.value]

    for _ in range(11):
        world.registry.summary(SUPPORT, alice, TICKET)
    assert alerts() == []
    world.registry.summary(SUPPORT, alice, TICKET)
    (alert,) = alerts()
    assert (alert.actor_id, alert.decision) == (SUPPORT.id, "allow")
    assert "12 customer look-ups" in alert.reason


def test_another_agent_cannot_verify_or_use_up_the_attempts(world: World) -> None:
    alice = world.register()
    started = world.identification.start(SUPPORT, alice, "email_code")
    code = world.last_code()
    for attempt in ("000000", code):
        with pytest.raises(Refused) as caught:
            world.identification.verify(SUPPORT2, started.id, attempt)
        refused_with(caught, world, Outcome.NOT_THE_IDENTIFIER)
    done = world.identification.verify(SUPPORT, started.id, code)
    assert (done.outcome, done.attempts) == (IdentificationOutcome.VERIFIED, 1)


def test_masks_keep_only_what_a_caller_would_recognise() -> None:
    assert mask_email("anna.muster@example.com") == "a***@example.com"
    assert mask_phone("+41790001234") == "+41*******34"
