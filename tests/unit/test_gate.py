"""The gate with the in-memory ledger: every decision is ledgered before it takes effect,
denials raise Refused with the ledgered reason, conditions come from ports (absent port =
not satisfied), and a ledger that cannot append refuses everything."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.domain.policy import (
    Action,
    Actor,
    ActorKind,
    Condition,
    Engine,
    Resource,
    ResourceKind,
    Role,
)
from entrusted.errors import InvalidInput, Refused, Unavailable
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.memory import InMemoryLedger
from tests.refusals import refused_by

pytestmark = pytest.mark.promise("P3", "P8", "P12")

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SUPPORT = Actor(ActorKind.STAFF, "stf_1", frozenset({Role.SUPPORT}))
MAILBOX = Resource(ResourceKind.MAILBOX_CONTENT, "mbx_1", owner="cus_1")
METADATA = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner="cus_1")
ENGINE = Engine(load_rules(DEFAULT_RULES_PATH).rules)


def make_gate(resolvers: dict[Condition, object] | None = None) -> tuple[Gate, InMemoryLedger]:
    ledger = InMemoryLedger()
    return Gate(ENGINE, ledger, lambda: NOW, resolvers or {}), ledger  # type: ignore[arg-type]


def test_allow_is_ledgered_before_return() -> None:
    gate, ledger = make_gate()
    audited = gate.decide(SUPPORT, Action.LIST_METADATA, METADATA)
    assert audited.allowed
    assert audited.decision.obligations == ("metadata_only",)
    (entry,) = ledger.entries
    assert (entry.decision, entry.rule, entry.actor_id, entry.owner) == (
        "allow",
        "support-monitors-mailbox-metadata",
        "stf_1",
        "cus_1",
    )
    assert audited.receipt.index == 0


def test_denial_raises_refused_with_the_ledgered_reason() -> None:
    gate, ledger = make_gate()
    with pytest.raises(Refused) as info:
        gate.decide(SUPPORT, Action.READ, MAILBOX, AccessContext(case_id="case_1"))
    (entry,) = ledger.entries
    assert entry.decision == "deny"
    assert entry.reason == info.value.decision.reason
    assert entry.rule == info.value.decision.rule_id == "mailbox-closed-to-staff"
    assert entry.refs == {"case": "case_1"}


def test_unwired_condition_port_means_deny_and_wired_port_allows() -> None:
    calls: list[tuple[str, str, str | None]] = []

    def grant(actor: Actor, resource: Resource, context: AccessContext) -> bool:
        calls.append((actor.id, resource.id, context.case_id))
        return actor.id == "stf_1" and resource.id == "mbx_1" and context.case_id == "case_1"

    gate, ledger = make_gate({Condition.ACTIVE_GRANT: grant})
    assert gate.decide(SUPPORT, Action.READ, MAILBOX, AccessContext(case_id="case_1")).allowed
    with refused_by("mailbox-closed-to-staff", ledger=ledger):
        gate.decide(SUPPORT, Action.READ, MAILBOX, AccessContext(case_id="case_2"))
    other = Actor(ActorKind.STAFF, "stf_2", frozenset({Role.SUPPORT}))
    with refused_by("mailbox-closed-to-staff", ledger=ledger):
        gate.decide(other, Action.READ, MAILBOX, AccessContext(case_id="case_1"))
    assert [e.decision for e in ledger.entries] == ["allow", "deny", "deny"]
    gate.decide(SUPPORT, Action.LIST_METADATA, METADATA)
    assert len(calls) == 3  # the metadata decision needed no grant lookup


def test_only_needed_conditions_are_resolved() -> None:
    asked: list[Condition] = []

    def spy(cond: Condition) -> object:
        def resolve(actor: Actor, resource: Resource, context: AccessContext) -> bool:
            asked.append(cond)
            return False

        return resolve

    gate, ledger = make_gate({c: spy(c) for c in Condition})
    with refused_by("mailbox-closed-to-staff", ledger=ledger):
        gate.decide(SUPPORT, Action.READ, MAILBOX)
    assert asked == [Condition.ACTIVE_GRANT]


@pytest.mark.parametrize(
    ("actor", "action", "resource", "field"),
    [
        (SUPPORT, "peek", MAILBOX, "action"),
        (Actor(ActorKind.STAFF, "stf_9", frozenset()), Action.READ, MAILBOX, "actor"),
        (
            Actor(ActorKind.CUSTOMER, "cus_1", frozenset({Role.SYSADMIN})),
            Action.READ,
            MAILBOX,
            "actor",
        ),
        (Actor(ActorKind.STAFF, "", frozenset({Role.SUPPORT})), Action.READ, MAILBOX, "actor"),
        (SUPPORT, Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, ""), "resource"),
        (SUPPORT, Action.READ, Resource(ResourceKind.MAILBOX_CONTENT, "x" * 65), "resource"),
        # Roles that are not a frozenset of known roles (a plain name, a mutable set, None).
        (Actor(ActorKind.STAFF, "stf_9", frozenset({"support"})), Action.READ, MAILBOX, "actor"),  # type: ignore[arg-type]  # the wrong type is the point
        (Actor(ActorKind.STAFF, "stf_9", {Role.SUPPORT}), Action.READ, MAILBOX, "actor"),  # type: ignore[arg-type]  # the wrong type is the point
        (Actor(ActorKind.STAFF, "stf_9", None), Action.READ, MAILBOX, "actor"),  # type: ignore[arg-type]  # the wrong type is the point
    ],
)
def test_invalid_requests_are_invalid_input_and_a_ledgered_denial(
    actor: Actor, action: Action | str, resource: Resource, field: str
) -> None:
    gate, ledger = make_gate()
    with pytest.raises(InvalidInput) as info:
        gate.decide(actor, action, resource)
    assert info.value.field == field
    (entry,) = ledger.entries
    assert entry.decision == "deny"
    assert entry.rule == "gate.invalid-request"


def test_an_unprintable_context_id_is_refused_and_ledgered_safely() -> None:
    gate, ledger = make_gate()
    with pytest.raises(InvalidInput) as info:
        gate.decide(SUPPORT, Action.READ, MAILBOX, AccessContext(case_id="case\x00\x07"))
    assert info.value.field == "context.case"
    (entry,) = ledger.entries
    assert (entry.rule, entry.refs) == ("gate.invalid-request", {"case": "case??"})


@pytest.mark.parametrize(
    ("actor", "action", "resource"),
    [(SUPPORT, Action.LIST_METADATA, METADATA), (SUPPORT, Action.READ, MAILBOX)],
)
def test_ledger_failure_refuses_allow_and_deny_alike(
    actor: Actor, action: Action, resource: Resource
) -> None:
    gate, ledger = make_gate()
    ledger.fail = True
    with pytest.raises(Unavailable):
        gate.decide(actor, action, resource)
    assert ledger.entries == []


def test_ledger_raising_anything_is_unavailable() -> None:
    class Broken(InMemoryLedger):
        def append_many(self, entries: object) -> object:  # type: ignore[override]
            raise OSError("disk full")  # every append of the twin, fast path too, comes here

    gate = Gate(ENGINE, Broken(), lambda: NOW)
    with pytest.raises(Unavailable):
        gate.decide(SUPPORT, Action.LIST_METADATA, METADATA)


def test_multi_role_staff_forbid_for_any_role_wins() -> None:
    gate, ledger = make_gate()
    both = Actor(ActorKind.STAFF, "stf_3", frozenset({Role.SUPPORT, Role.SYSADMIN}))
    backup = Resource(ResourceKind.BACKUP, "bkp_1", owner="cus_1")
    with pytest.raises(Refused) as info:
        gate.decide(both, Action.RESTORE, backup)
    assert info.value.decision.rule_id == "support-never-touches-backups"
    sysadmin = Actor(ActorKind.STAFF, "stf_4", frozenset({Role.SYSADMIN}))
    assert gate.decide(sysadmin, Action.RESTORE, backup).allowed
    assert [e.actor_roles for e in ledger.entries] == [("support", "sysadmin"), ("sysadmin",)]


def test_entries_carry_a_fresh_nonce_and_no_details() -> None:
    gate, ledger = make_gate()
    gate.decide(SUPPORT, Action.LIST_METADATA, METADATA)
    gate.decide(SUPPORT, Action.LIST_METADATA, METADATA)
    a, b = ledger.entries
    assert a.nonce != b.nonce
    assert a.to_bytes() != b.to_bytes()


# Ids of the wrong type, and a context that is not one: each once raised `TypeError` or
# `AttributeError` from the validation itself, so the refusal never reached the ledger.
@pytest.mark.parametrize(
    ("actor", "resource", "context", "field"),
    [
        (Actor(ActorKind.STAFF, 5, SUPPORT.roles), METADATA, None, "actor"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, Resource(ResourceKind.MAILBOX_METADATA, 7, owner="cus_1"), None, "resource"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner=3), None, "resource"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, Resource(ResourceKind.MAILBOX_METADATA, b"mbx_1"), None, "resource"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, METADATA, "case_1", "context"),
        (SUPPORT, METADATA, AccessContext(case_id=42), "context.case"),  # type: ignore[arg-type]  # the wrong type is the point
    ],
)
def test_ids_of_the_wrong_type_are_invalid_input_and_ledgered(
    actor: Actor, resource: Resource, context: object, field: str
) -> None:
    gate, ledger = make_gate()
    with pytest.raises(InvalidInput) as info:
        gate.decide(actor, Action.LIST_METADATA, resource, context)  # type: ignore[arg-type]  # the wrong type is the point
    assert info.value.field == field
    (entry,) = ledger.entries
    assert (entry.decision, entry.rule) == ("deny", "gate.invalid-request")


_JUNK = st.one_of(
    st.none(),
    st.integers(),
    st.binary(max_size=70),
    st.text(max_size=70),
    st.lists(st.text(max_size=3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(actor_id=_JUNK, resource_id=_JUNK, owner=_JUNK, case=_JUNK)
def test_whatever_the_ids_the_gate_decides_or_refuses_and_ledgers_once(
    actor_id: object, resource_id: object, owner: object, case: object
) -> None:
    """The oracle is the validation's definition, written out independently: text of 1-64
    printable characters (owner may be None; the case may be absent)."""

    def ok(value: object) -> bool:
        return type(value) is str and 0 < len(value) <= 64 and value.isprintable()

    valid = (
        ok(actor_id)
        and ok(resource_id)
        and (owner is None or ok(owner))
        and (not case or (type(case) is str and len(case) <= 64 and case.isprintable()))
    )
    gate, ledger = make_gate()
    actor = Actor(ActorKind.STAFF, actor_id, SUPPORT.roles)  # type: ignore[arg-type]  # junk is the point
    resource = Resource(ResourceKind.MAILBOX_METADATA, resource_id, owner=owner)  # type: ignore[arg-type]  # junk is the point
    context = AccessContext(case_id=case)  # type: ignore[arg-type]  # junk is the point
    if valid:
        assert gate.decide(actor, Action.LIST_METADATA, resource, context).allowed
        assert ledger.entries[0].decision == "allow"
    else:
        with pytest.raises(InvalidInput):
            gate.decide(actor, Action.LIST_METADATA, resource, context)
        assert ledger.entries[0].rule == "gate.invalid-request"
    assert len(ledger.entries) == 1


class _EntriesOnly:
    """A ledger without `append_body`: the gate takes the `AuditEntry` path (the definition)."""

    def __init__(self) -> None:
        self.inner = InMemoryLedger()

    def append(self, entry: AuditEntry) -> Receipt:
        return self.inner.append(entry)

    def append_many(self, entries: Sequence[AuditEntry]) -> list[Receipt]:
        return self.inner.append_many(entries)


_ID = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S"), include_characters=" "),
    min_size=1,
    max_size=64,
)  # what `str.isprintable` accepts: letters, digits, punctuation, symbols, the ASCII space


@settings(max_examples=200, deadline=None)
@given(
    actor_id=_ID,
    roles=st.frozensets(st.sampled_from(list(Role)), min_size=1),
    action=st.sampled_from(list(Action)),
    kind=st.sampled_from(list(ResourceKind)),
    resource_id=_ID,
    owner=st.none() | _ID,
    case=st.none() | _ID,
    grant=st.none() | _ID,
)
def test_the_fast_path_ledgers_the_bytes_of_the_entry_it_skips(
    actor_id: str,
    roles: frozenset[Role],
    action: Action,
    kind: ResourceKind,
    resource_id: str,
    owner: str | None,
    case: str | None,
    grant: str | None,
) -> None:
    """`decide` hands the ledger `entry_bytes` instead of an `AuditEntry`: for any request,
    the bytes (hence leaf hashes and receipts) are those the entry itself would have."""
    nonce = bytes(range(32))
    fast_ledger, slow_ledger = InMemoryLedger(), _EntriesOnly()
    results = []
    for ledger in (fast_ledger, slow_ledger):
        gate = Gate(ENGINE, ledger, lambda: NOW, nonce=lambda n: nonce[:n])  # type: ignore[arg-type]  # either ledger
        actor = Actor(ActorKind.STAFF, actor_id, roles)
        resource = Resource(kind, resource_id, owner=owner)
        try:
            results.append(gate.decide(actor, action, resource, AccessContext(case, grant)).receipt)
        except Refused as refused:
            results.append(refused.decision)
    fast, slow = fast_ledger.entries, slow_ledger.inner.entries
    assert [e.to_bytes() for e in fast] == [e.to_bytes() for e in slow]
    assert len(fast) == 1
    assert results[0] == results[1]


class _Liar(str):
    """An id that says something else of itself (found by the outside trial): checked as one
    id and ledgered as another, it let a support agent act as a sysadmin."""

    def __str__(self) -> str:
        return "stf_admin"

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


class _Unprintable:
    """Stands for a 5,000-digit int: `str()` and `repr()` of it raise `ValueError`."""

    def __repr__(self) -> str:
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    __str__ = __repr__


_LIAR_ACTOR = Actor(ActorKind.STAFF, _Liar("stf_1"), SUPPORT.roles)
_LIAR_OWNER = Resource(ResourceKind.MAILBOX_METADATA, "mbx_1", owner=_Liar("cus_2"))
_LIST = Action.LIST_METADATA


@pytest.mark.parametrize(
    ("actor", "action", "resource", "context", "field"),
    [
        (_LIAR_ACTOR, _LIST, METADATA, None, "actor"),
        (SUPPORT, _LIST, _LIAR_OWNER, None, "resource"),
        (SUPPORT, _Unprintable(), METADATA, None, "action"),
        (SUPPORT, "x" * 70_000, METADATA, None, "action"),  # its name would overflow the entry
        (SUPPORT, _LIST, METADATA, AccessContext(court_order_id=[]), "context.court_order"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, _LIST, METADATA, AccessContext(recipients=("cus_1", None)), "context.recipients"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, _LIST, METADATA, AccessContext(recipients="cus_1"), "context.recipients"),  # type: ignore[arg-type]  # the wrong type is the point
        (SUPPORT, _LIST, METADATA, {}, "context"),  # falsy, yet not a context
    ],
)
def test_what_the_outside_trial_slipped_past_is_refused_and_ledgered(
    actor: Actor, action: object, resource: Resource, context: object, field: str
) -> None:
    gate, ledger = make_gate()
    with pytest.raises(InvalidInput) as info:
        gate.decide(actor, action, resource, context)  # type: ignore[arg-type]  # the wrong type is the point
    assert info.value.field == field
    (entry,) = ledger.entries
    assert (entry.decision, entry.rule) == ("deny", "gate.invalid-request")
    assert len(entry.reason) < 200
    assert entry.actor_id != "stf_admin"


def test_decide_many_reads_a_generator_once_and_refuses_what_is_not_a_sequence() -> None:
    gate, ledger = make_gate()
    audited = gate.decide_many(SUPPORT, Action.LIST_METADATA, (r for r in [METADATA, METADATA]))
    assert len(audited) == 2
    assert len(ledger.entries) == 2
    with pytest.raises(InvalidInput) as info:
        gate.decide_many(SUPPORT, Action.LIST_METADATA, 5)  # type: ignore[arg-type]  # not a sequence
    assert info.value.field == "resources"
    assert ledger.entries[-1].rule == "gate.invalid-request"
