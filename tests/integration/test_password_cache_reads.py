"""A staff password the process checked a moment ago (the IMAP staff login's cache) is checked
again by reading only: no login-attempt bookkeeping is written while nothing needs it, so the
mail gate's logins do not queue behind the database's write lock. Whatever needs counting or
clearing still takes the counted path: a failure on record, a reached limit, a disabled
member, a changed password. The oracle is the SQL the database receives (every statement,
seen by an engine event), not the service's own account. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from entrusted.bootstrap import Container
from entrusted.crypto.secrets import hash_password
from entrusted.domain.policy import ActorKind
from entrusted.errors import AuthenticationFailed, RateLimited
from tests.conftest import count_rows

pytestmark = pytest.mark.promise("P2")

PASSWORD = "correct horse battery"
WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every statement the engine sends while the block runs, first word upper-cased."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def _writes(seen: list[str]) -> list[str]:
    return [s for s in seen if s in WRITES]


@pytest.fixture
def ana(container: Container) -> Container:
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    container.staff.check_password("ana", PASSWORD, "192.0.2.1")  # checked once: remembered
    return container


def test_a_remembered_password_is_checked_again_without_a_write(ana: Container) -> None:
    with statements(ana.engine) as seen:
        actor = ana.staff.check_password("ana", PASSWORD, "192.0.2.1")
    assert actor.kind is ActorKind.STAFF
    assert seen, "the check read nothing: the oracle saw no statement"
    assert _writes(seen) == []


def test_the_first_check_is_counted(container: Container) -> None:
    """The planted contrast: without a remembered check the attempt is recorded in flight and
    dropped, two writes at least; the oracle sees writes when there are some."""
    container.staff.add("ana", "Ana Example", ["support"], PASSWORD)
    with statements(container.engine) as seen:
        container.staff.check_password("ana", PASSWORD, "192.0.2.1")
    assert "INSERT" in _writes(seen)
    assert "DELETE" in _writes(seen)


def test_a_wrong_password_is_counted_even_after_a_right_one(ana: Container) -> None:
    with statements(ana.engine) as seen, pytest.raises(AuthenticationFailed):
        ana.staff.check_password("ana", "wrong password!", "192.0.2.1")
    assert "INSERT" in _writes(seen)
    assert count_rows(ana.engine, "login_failure") == 1


def test_a_failure_on_record_makes_the_right_password_clear_it(ana: Container) -> None:
    with pytest.raises(AuthenticationFailed):
        ana.staff.check_password("ana", "wrong password!", "192.0.2.9")
    with statements(ana.engine) as seen:
        ana.staff.check_password("ana", PASSWORD, "192.0.2.1")
    assert _writes(seen), "the failure on record was left for the next guesses to add to"
    assert count_rows(ana.engine, "login_failure") == 0


def test_a_locked_account_refuses_the_remembered_password(ana: Container) -> None:
    for i in range(5):  # the per-account limit, from five addresses
        with pytest.raises(AuthenticationFailed):
            ana.staff.check_password("ana", "wrong password!", f"198.51.100.{i}")
    with pytest.raises(RateLimited, match="for this account"):
        ana.staff.check_password("ana", PASSWORD, "192.0.2.1")


def test_an_address_at_its_limit_is_refused_the_remembered_password(ana: Container) -> None:
    for i in range(20):  # the per-address limit, on twenty made-up accounts
        with pytest.raises(AuthenticationFailed):
            ana.staff.check_password(f"nobody{i}", "wrong password!", "203.0.113.7")
    with pytest.raises(RateLimited, match="from this address"):
        ana.staff.check_password("ana", PASSWORD, "203.0.113.7")
    assert ana.staff.check_password("ana", PASSWORD, "192.0.2.1").id  # elsewhere: fine


def test_a_disabled_member_is_refused_the_remembered_password(ana: Container) -> None:
    ana.staff.disable("ana")
    with pytest.raises(AuthenticationFailed):
        ana.staff.check_password("ana", PASSWORD, "192.0.2.1")


def test_a_changed_password_misses_the_cache(ana: Container) -> None:
    new = "a new password, long enough"
    with ana.engine.begin() as conn:  # changed behind the process's back
        conn.execute(
            sa.text("UPDATE staff SET password_hash = :h WHERE username = 'ana'"),
            {"h": hash_password(new)},
        )
    with pytest.raises(AuthenticationFailed):
        ana.staff.check_password("ana", PASSWORD, "192.0.2.1")
    assert ana.staff.check_password("ana", new, "192.0.2.1").id
