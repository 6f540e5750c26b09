"""The helpers that decide between skip and fail: under CI=true a missing dependency must fail
the run, never skip it into green."""

from __future__ import annotations

import pytest

from tests import conftest

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
