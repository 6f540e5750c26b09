"""A NUL typed into a login's username reaches storage as a clean refusal (trial finding: on
PostgreSQL the advisory lock's `hashtext(...)` raised psycopg's DataError, a 500). Through the
service, not the API (the API refuses NUL itself): the lock key is hashed in Python, the
attempt is counted like any failed login, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from entrusted.adapters.db.locks import advisory_key, storable
from entrusted.bootstrap import Container
from entrusted.errors import AuthenticationFailed
from tests.conftest import count_rows
from tests.integration.test_registry_sql import PASSWORD, staff

pytestmark = pytest.mark.promise("P2")


@pytest.mark.parametrize("name", ["sam\x00", "\x00", "s\x00am" * 20])
def test_a_nul_in_the_username_is_a_clean_failed_login(container: Container, name: str) -> None:
    c = container
    staff(c, "sam", "support")
    with pytest.raises(AuthenticationFailed):
        c.staff.login(name, PASSWORD, None, "192.0.2.7")
    with pytest.raises(AuthenticationFailed):
        c.staff.check_password(name, PASSWORD, "192.0.2.7")
    assert count_rows(c.engine, "login_failure") == 2  # counted, as any failed login is
    assert c.staff.login("sam", PASSWORD, None, "192.0.2.7").secret  # sam is not locked out


def test_the_lock_key_is_a_signed_64_bit_integer_of_the_text() -> None:
    keys = {advisory_key(t) for t in ("login-account:sam", "login-account:sam\x00", "\ud800")}
    assert len(keys) == 3
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert advisory_key("x") == advisory_key("x")
    assert storable("a\x00b") == "a\ufffdb"
