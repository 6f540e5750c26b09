"""The gate's tally (the decision metrics) counts what the ledger holds and nothing else:
every durable entry, allow, deny, invalid request and bulk alike, and nothing when the append
failed (the access was refused unaudited, so it is not a decision the log knows)."""

from __future__ import annotations

from collections import Counter

import pytest

from entrusted.domain.policy import Action
from entrusted.errors import InvalidInput, Refused, Unavailable
from entrusted.services.gate import AccessContext
from tests.unit.test_gate import MAILBOX, METADATA, SUPPORT, make_gate

pytestmark = pytest.mark.promise("P3")


def test_the_tally_equals_the_ledger_and_skips_failed_appends() -> None:
    gate, ledger = make_gate()
    counted: Counter[tuple[str, str | None]] = Counter()
    gate.tally = lambda effect, rule: counted.update([(effect, rule)])
    gate.decide(SUPPORT, "list_metadata", METADATA)
    with pytest.raises(Refused):
        gate.decide(SUPPORT, "read", MAILBOX, AccessContext(case_id="case_1"))
    with pytest.raises(InvalidInput):
        gate.decide(SUPPORT, "teleport", METADATA)
    with pytest.raises(Refused):
        gate.decide_many(SUPPORT, Action.LIST_METADATA, [METADATA, MAILBOX])
    assert counted == Counter((e.decision, e.rule) for e in ledger.entries)
    assert sum(counted.values()) == 5
    ledger.fail = True
    with pytest.raises(Unavailable):
        gate.decide(SUPPORT, "list_metadata", METADATA)
    assert sum(counted.values()) == 5
