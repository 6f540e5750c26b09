"""Failed staff logins in parallel (issue 11): every attempt is recorded, in the writing unit
that checks the limit, before its password is hashed, so N concurrent wrong passwords on one
account cannot all pass a count taken before any of them failed. Real threads, both databases."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container
from entrusted.errors import AuthenticationFailed, RateLimited
from entrusted.services.staff import IN_FLIGHT_WAIT_S
from tests.conftest import FakeClock, count_rows

pytestmark = pytest.mark.promise("P2")

PASSWORD = "correct horse battery"
ATTEMPTS = 16


def _attempt(container: Container, i: int) -> BaseException | None:
    try:
        # One address per attempt, so only the per-account limit (5) can stop them
        container.staff.login("ana", "wrong password!", None, f"192.0.2.{i}")
    except (AuthenticationFailed, RateLimited) as exc:
        return exc
    return None


def test_parallel_wrong_passwords_never_exceed_the_account_limit(container: Container) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    with ThreadPoolExecutor(ATTEMPTS) as pool:
        results = list(pool.map(lambda i: _attempt(container, i), range(ATTEMPTS)))
    failed = [r for r in results if isinstance(r, AuthenticationFailed)]
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert len(failed) == 5, results
    assert len(limited) == ATTEMPTS - 5
    assert all("for this account" in str(r) for r in limited)
    assert count_rows(container.engine, "login_failure") == 5


def test_a_right_password_clears_its_recorded_attempt(container: Container) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    container.staff.check_password("ana", PASSWORD, "192.0.2.1")
    container.staff.login("ana", PASSWORD, None, "192.0.2.1")
    assert count_rows(container.engine, "login_failure") == 0


def test_settled_failures_refuse_at_once_beside_an_attempt_in_flight(
    container: Container, clock: FakeClock
) -> None:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    for i in range(5):
        with pytest.raises(AuthenticationFailed):
            container.staff.login("ana", "wrong password!", None, f"192.0.2.{i}")
    with SqlUnitOfWork(container.engine) as uow:  # another attempt, its hash still running
        uow.login_failures.begin("ana", "198.51.100.1", clock())
        uow.commit()
    start = time.monotonic()
    with pytest.raises(RateLimited, match="for this account"):
        container.staff.login("ana", PASSWORD, None, "192.0.2.9")
    assert time.monotonic() - start < IN_FLIGHT_WAIT_S / 4
