"""The gate's two additions for the registry: `decide_many` (one ledger append for a bulk
import, every decision recorded, any denial refuses the lot) and `record_outcome` (what came of
an allowed access, e.g. an identification, filed like a decision)."""

from __future__ import annotations

import pytest

from entrusted.domain.policy import Action, Decision, Effect, Resource, ResourceKind
from entrusted.errors import InvalidInput, Unavailable
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.memory import InMemoryLedger
from tests.conftest import FakeClock
from tests.refusals import default_denied, default_deny_reason
from tests.unit.registry_world import ENGINE, SIGNUP, SUPPORT

pytestmark = pytest.mark.promise("P3", "P12")


class CountingLedger(InMemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def append_many(self, entries):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().append_many(entries)


def details(customer_id: str) -> Resource:
    return Resource(ResourceKind.PERSONAL_DETAILS, customer_id, owner=customer_id)


def test_decide_many_appends_once_and_returns_receipts_in_order() -> None:
    ledger = CountingLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    audited = gate.decide_many(SIGNUP, Action.CREATE, [details(f"cus_{n}") for n in range(5)])
    assert ledger.calls == 1
    assert [a.receipt.index for a in audited] == [0, 1, 2, 3, 4]
    assert [e.owner for e in ledger.entries] == [f"cus_{n}" for n in range(5)]
    assert gate.decide_many(SIGNUP, Action.CREATE, []) == []


def test_decide_many_records_every_decision_and_refuses_on_any_denial() -> None:
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    mixed = [details("cus_1"), Resource(ResourceKind.CUSTOMER_FILE, "all"), details("cus_2")]
    with default_denied("signup to create customer_file"):
        gate.decide_many(SIGNUP, Action.CREATE, mixed)
    assert [e.decision for e in ledger.entries] == ["allow", "deny", "allow"]
    assert ledger.entries[1].reason == default_deny_reason("signup to create customer_file")
    with pytest.raises(InvalidInput):
        gate.decide_many(SIGNUP, Action.CREATE, [details("cus_3"), details("x" * 65)])
    assert ledger.entries[-1].rule == "gate.invalid-request"


def test_decide_many_fails_closed() -> None:
    ledger = InMemoryLedger()
    ledger.fail = True
    with pytest.raises(Unavailable):
        Gate(ENGINE, ledger, FakeClock()).decide_many(SIGNUP, Action.CREATE, [details("cus_1")] * 2)


def test_record_outcome_files_the_outcome_with_its_step() -> None:
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    outcome = Decision(Effect.FORBID, "registry.identification", "wrong code")
    receipt = gate.record_outcome(
        SUPPORT, Action.IDENTIFY, details("cus_1"), outcome, AccessContext(case_id="case_1")
    )
    (entry,) = ledger.entries
    assert receipt.index == 0
    assert (entry.decision, entry.rule, entry.owner, entry.refs) == (
        "deny",
        "registry.identification",
        "cus_1",
        {"case": "case_1"},
    )
    with pytest.raises(InvalidInput):
        gate.record_outcome(SUPPORT, Action.IDENTIFY, details("x" * 65), outcome)


def test_a_plain_string_action_is_parsed_as_decide_parses_it() -> None:
    """`decide` took the action by name while the batch paths and outcomes crashed on it with
    `AttributeError`, so their requests were never ledgered."""
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    gate.decide_many(SIGNUP, "create", [details("cus_1")])  # type: ignore[arg-type]  # by name
    outcome = Decision(Effect.PERMIT, "registry.identification", "code matched")
    gate.record_outcome(SUPPORT, "identify", details("cus_1"), outcome)  # type: ignore[arg-type]  # by name
    gate.record_outcomes(SUPPORT, [("identify", details("cus_2"), outcome)])  # type: ignore[list-item]  # by name
    assert [e.action for e in ledger.entries] == ["create", "identify", "identify"]
    with pytest.raises(InvalidInput) as info:
        gate.decide_many(SIGNUP, "peek", [details("cus_1")])  # type: ignore[arg-type]  # unknown
    assert info.value.field == "action"
    assert ledger.entries[-1].rule == "gate.invalid-request"


@pytest.mark.parametrize(
    "outcome",
    [
        None,
        "registry.identification",
        Decision(Effect.PERMIT, None, "no step named"),
        Decision(Effect.PERMIT, "step\x00", "an unprintable step"),
        Decision(Effect.PERMIT, "registry.identification", None),  # type: ignore[arg-type]  # no reason
    ],
)
def test_an_outcome_that_is_not_a_named_decision_is_refused_and_ledgered(outcome: object) -> None:
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    for record in (
        lambda: gate.record_outcome(SUPPORT, Action.IDENTIFY, details("cus_1"), outcome),  # type: ignore[arg-type]  # the wrong type is the point
        lambda: gate.record_outcomes(SUPPORT, [(Action.IDENTIFY, details("cus_1"), outcome)]),  # type: ignore[list-item]  # the wrong type is the point
    ):
        with pytest.raises(InvalidInput) as info:
            record()
        assert info.value.field == "outcome"
        entry = ledger.entries[-1]
        assert (entry.decision, entry.rule, entry.action) == (
            "deny",
            "gate.invalid-request",
            "identify",
        )
    assert len(ledger.entries) == 2


def test_the_well_formed_outcomes_of_a_batch_are_ledgered_beside_a_malformed_one() -> None:
    """The changes behind `record_outcomes` have committed: one malformed outcome among them
    is refused and ledgered, and the others are still reported, not dropped."""
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    good = Decision(Effect.PERMIT, "registry.identification", "code matched")
    with pytest.raises(InvalidInput) as info:
        gate.record_outcomes(
            SUPPORT,
            [
                (Action.IDENTIFY, details("cus_1"), good),
                (Action.IDENTIFY, details("cus_2"), None),  # type: ignore[list-item]  # malformed
                (Action.IDENTIFY, details("cus_3"), good),
            ],
        )
    assert info.value.field == "outcome"
    assert sorted((e.owner, e.rule) for e in ledger.entries) == [
        ("cus_1", "registry.identification"),
        ("cus_2", "gate.invalid-request"),
        ("cus_3", "registry.identification"),
    ]


@pytest.mark.parametrize(
    "outcome",
    [
        # a policy rule's id: the entry would read like a decision of the rules
        Decision(Effect.PERMIT, "sysadmin-lists-and-restores-backups", "restored"),
        Decision(Effect.PERMIT, "registry.identification", "x\ud800"),  # a lone surrogate
        Decision(Effect.PERMIT, "registry.identification", "r\x00\x1b[31m"),  # NUL, escapes
        Decision(Effect.PERMIT, "registry.identification", "r" * 9000),
    ],
)
def test_an_outcome_names_a_catalogue_step_and_a_showable_reason(outcome: Decision) -> None:
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    with pytest.raises(InvalidInput) as info:
        gate.record_outcome(SUPPORT, Action.IDENTIFY, details("cus_1"), outcome)
    assert info.value.field == "outcome"
    assert [e.rule for e in ledger.entries] == ["gate.invalid-request"]
    fine = Decision(Effect.PERMIT, "registry.identification", "code matched\nafter a retry")
    gate.record_outcome(SUPPORT, Action.IDENTIFY, details("cus_1"), fine)
    assert ledger.entries[-1].reason == "code matched\nafter a retry"


@pytest.mark.parametrize("outcomes", [[(Action.IDENTIFY, details("cus_1"))], [None], 5])
def test_outcomes_that_are_not_triples_are_refused_and_ledgered(outcomes: object) -> None:
    ledger = InMemoryLedger()
    gate = Gate(ENGINE, ledger, FakeClock())
    with pytest.raises(InvalidInput) as info:
        gate.record_outcomes(SUPPORT, outcomes)  # type: ignore[arg-type]  # the wrong shape is the point
    assert info.value.field == "outcomes"
    assert [e.rule for e in ledger.entries] == ["gate.invalid-request"]
