"""Asserting a refusal: WHICH rule refused (or, under default deny, which request found no
rule and which condition was missing), and that the refusal reached the ledger.

Under default deny, `pytest.raises(Refused)` alone passes for the wrong reason (a typo in a
role, a missing fact): these helpers are the only way tests here expect a refusal.

```python
with refused_by("mailbox-closed-to-staff", ledger=world.ledger):
    world.gate.decide(SUPPORT, Action.READ, mailbox)
with default_denied("customer to read contract", without="owns_resource"):
    world.contracts.get(customer(bob), contract)
http_refused(client.get("/v1/customers", headers=support), "nobody-exports-the-customer-file")
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from entrusted.errors import Refused
from entrusted.services.memory import InMemoryLedger

# Where to find the refusal afterwards: an in-memory ledger (its newest entry), or a function
# returning the newest AuditEntry (e.g. `lambda: ledgered(c)[-1]` on a real database).
LastEntry = InMemoryLedger | Callable[[], Any]


def _check_ledgered(ledger: LastEntry | None, rule: str | None, reason: str) -> None:
    if ledger is None:
        return
    if isinstance(ledger, InMemoryLedger):
        assert ledger.entries, "the refusal was not the last ledger entry: the ledger is empty"
        entry = ledger.entries[-1]
    else:
        entry = ledger()
    assert (entry.decision, entry.rule, entry.reason) == ("deny", rule, reason), (
        f"the refusal was not the last ledger entry: {entry}"
    )


@contextmanager
def refused_by(
    rule: str, *, ledger: LastEntry | None = None
) -> Iterator[pytest.ExceptionInfo[Refused]]:
    """Expect a refusal by the rule `rule` (ledgered as the newest entry when `ledger`)."""
    with pytest.raises(Refused) as caught:
        yield caught
    decision = caught.value.decision
    assert decision.rule_id == rule, f"refused by {decision.rule_id!r} ({decision.reason})"
    _check_ledgered(ledger, rule, decision.reason)


@contextmanager
def default_denied(
    target: str, *, without: str | None = None, ledger: LastEntry | None = None
) -> Iterator[pytest.ExceptionInfo[Refused]]:
    """Expect a default deny for `target` ("support to read contract"): no rule permits it,
    or (`without`) the rules that would need a condition that did not hold."""
    with pytest.raises(Refused) as caught:
        yield caught
    decision = caught.value.decision
    expected = default_deny_reason(target, without)
    assert (decision.rule_id, decision.reason) == (None, expected)
    _check_ledgered(ledger, None, expected)


def default_deny_reason(target: str, without: str | None = None) -> str:
    """The engine's words for a default deny (domain/policy.py `_denial`)."""
    missing = f" without {without}" if without else ""
    return f"no rule permits {target}{missing} (default deny)"


def http_refused(response: Any, rule: str) -> None:
    """An API answer is the 403 of a refusal by `rule` (the problem body names it)."""
    body = response.json()
    assert (response.status_code, body.get("rule")) == (403, rule), response.text


def http_default_denied(response: Any, target: str, without: str | None = None) -> None:
    """An API answer is the 403 of a default deny for `target` (see `default_denied`)."""
    body = response.json()
    expected = (403, None, default_deny_reason(target, without))
    assert (response.status_code, body.get("rule"), body.get("reason")) == expected, response.text
