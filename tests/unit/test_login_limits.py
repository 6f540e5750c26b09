"""`LoginLimits.exceeded`, the one failed-login check staff, customer and FTP logins share:
per address first, then per account, within the window, in-flight attempts discounted on
request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from entrusted.services.memory_registry import InMemoryRegistry
from entrusted.services.staff import LoginLimits
from tests.conftest import FakeClock

pytestmark = pytest.mark.promise("P2")

LIMITS = LoginLimits(max_failures_per_account=2, max_failures_per_address=3)


def test_limits_per_account_then_per_address_within_the_window() -> None:
    clock = FakeClock()
    with InMemoryRegistry().unit_of_work() as uow:
        failures = uow.login_failures
        now = clock()
        assert LIMITS.exceeded(failures, "ana", "192.0.2.1", now) is None
        failures.record("ana", "192.0.2.1", now)
        failures.record("ana", "192.0.2.2", now)
        account = LIMITS.exceeded(failures, "ana", "192.0.2.9", now)
        assert account is not None
        assert account.message == "too many failed logins for this account"
        assert account.retry_after_s == 15 * 60
        assert LIMITS.exceeded(failures, "bob", "192.0.2.1", now) is None
        failures.record("bob", "192.0.2.1", now)
        failures.record("eve", "192.0.2.1", now)
        address = LIMITS.exceeded(failures, "carl", "192.0.2.1", now)
        assert address is not None
        assert address.message == "too many failed logins from this address"
        attempt = failures.begin("dan", "192.0.2.3", now)
        failures.record("dan", "192.0.2.4", now)
        assert LIMITS.exceeded(failures, "dan", "192.0.2.5", now) is not None
        assert LIMITS.exceeded(failures, "dan", "192.0.2.5", now, discount=1) is None
        failures.drop(attempt)
        later = now + LIMITS.window + timedelta(seconds=1)
        assert LIMITS.exceeded(failures, "ana", "192.0.2.1", later) is None
