"""The test helpers that could let a wrong test pass: under CI=true a missing dependency must
fail the run, never skip it into green; a refusal by another rule, or one that did not reach
the ledger, must fail a refusal assertion."""

from __future__ import annotations

import pytest

from entrusted.domain.policy import Decision, Effect
from entrusted.errors import Refused
from entrusted.services.memory import InMemoryLedger
from tests import conftest
from tests.refusals import default_denied, default_deny_reason, refused_by

MISSING = "entrusted_no_such_module"


def test_missing_module_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match=f"{MISSING} .*required under CI=true"):
        conftest.require_module(MISSING)


def test_missing_module_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        conftest.require_module(MISSING)


def test_present_module_is_returned() -> None:
    assert conftest.require_module("json").dumps([]) == "[]"


def _refuse(rule: str | None, reason: str) -> None:
    raise Refused(Decision(Effect.FORBID, rule, reason))


def test_refused_by_fails_for_another_rule_or_an_unledgered_refusal() -> None:
    with refused_by("mailbox-closed-to-staff"):
        _refuse("mailbox-closed-to-staff", "closed")
    with (
        pytest.raises(AssertionError, match=r"refused by 'consent\.sessions-spent'"),
        refused_by("mailbox-closed-to-staff"),
    ):
        _refuse("consent.sessions-spent", "spent")
    with (
        pytest.raises(AssertionError, match="not the last ledger entry"),
        refused_by("mailbox-closed-to-staff", ledger=InMemoryLedger()),
    ):
        _refuse("mailbox-closed-to-staff", "closed")


def test_default_denied_names_the_request_and_the_missing_condition() -> None:
    reason = default_deny_reason("customer to read contract", "owns_resource")
    assert reason == (
        "no rule permits customer to read contract without owns_resource (default deny)"
    )
    with default_denied("customer to read contract", without="owns_resource"):
        _refuse(None, reason)
    # the missing condition is part of what is asserted
    with pytest.raises(AssertionError), default_denied("customer to read contract"):
        _refuse(None, reason)
    # a refusal by a named rule is no default deny
    with (
        pytest.raises(AssertionError),
        default_denied("customer to read contract", without="owns_resource"),
    ):
        _refuse("some-rule", reason)
