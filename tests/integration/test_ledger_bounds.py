"""Input bounds on both databases: every id the gate accepts is ledgered, an entry its columns
cannot hold is refused before it joins a batch (so it never fails another caller's append),
and a tile index no tree can have is a 404, never a database error."""

from __future__ import annotations

import threading

import pytest

from entrusted.bootstrap import Container
from entrusted.domain.audit import AuditEntry, Receipt
from entrusted.domain.policy import Action, Actor, ActorKind, Resource, ResourceKind, Role
from entrusted.errors import InvalidInput, NotFound, Refused
from tests.integration.ledger_support import audit_entry

pytestmark = pytest.mark.promise("P3")

LONGEST = "c" * 64  # the gate's MAX_ID; the column held 40 before migration 0008


def test_a_64_character_customer_id_is_ledgered(container: Container) -> None:
    member = container.staff.add("ana", "Ana", ["support"], "correct horse battery staple 1")
    actor = Actor(ActorKind.STAFF, member.id, frozenset({Role.SUPPORT}))
    with pytest.raises(Refused) as refused:
        container.gate.decide(
            actor, Action.READ, Resource(ResourceKind.PERSONAL_DETAILS, "pd_1", LONGEST)
        )
    assert refused.value.decision.rule_id is None  # default deny, and still ledgered:
    filed = container.ledger_store.entries_for_customer(LONGEST, container.ledger_store.size)
    assert len(filed) == 1
    assert AuditEntry.from_bytes(filed[0][1]).owner == LONGEST


@pytest.mark.parametrize(
    ("owner", "field"),
    [
        ("c" * 65, "ledger customer_id"),
        ("", "ledger customer_id"),
        ("cus\x00", "ledger customer_id"),
        ("cus\ud800", "ledger customer_id"),
    ],
)
def test_a_bad_entry_never_fails_another_callers_append(
    container: Container, owner: str, field: str
) -> None:
    good = [audit_entry(i, "cus_1") for i in range(200)]
    receipts: list[Receipt] = []
    errors: list[Exception] = []

    def append_good(entry: AuditEntry) -> None:
        try:
            receipts.append(container.ledger.append(entry))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=append_good, args=(e,)) for e in good]
    for th in threads[:100]:
        th.start()
    with pytest.raises(InvalidInput) as bad:
        container.ledger.append_raw([(audit_entry(999, None).to_bytes(), owner)])
    for th in threads[100:]:
        th.start()
    for th in threads:
        th.join()
    assert bad.value.field == field
    assert errors == []
    assert sorted(r.index for r in receipts) == list(range(200))
    assert container.ledger_store.stored_size() == 200  # the bad entry is nowhere


def test_an_entry_too_large_for_a_bundle_is_refused(container: Container) -> None:
    with pytest.raises(InvalidInput) as bad:
        container.ledger.append_raw([(b"x" * 65_536, "cus_1")])
    assert bad.value.field == "ledger entry"
    assert container.ledger_store.stored_size() == 0


@pytest.mark.parametrize(("level", "index"), [(0, 2**63), (0, 2**56), (7, 1), (64, 0)])
def test_a_tile_no_tree_can_hold_is_not_found(container: Container, level: int, index: int) -> None:
    container.ledger.append_many([audit_entry(i, None) for i in range(3)])
    with pytest.raises(NotFound):
        container.ledger_store.tile(level, index, None)
    with pytest.raises(NotFound):
        container.ledger_store.tile(level, index, 1)
