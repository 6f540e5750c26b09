"""Staff identities on both databases: validation writes nothing, tokens are shown once and
stored hashed, logins are rate-limited, TOTP is enforced once enrolled."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from entrusted.bootstrap import Container
from entrusted.crypto.totp import current_code
from entrusted.domain.policy import ActorKind, Role
from entrusted.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, RateLimited
from tests.conftest import FakeClock, count_rows

pytestmark = pytest.mark.promise("P8")

PASSWORD = "correct horse battery"


def test_add_and_authenticate_with_token(container: Container) -> None:
    member = container.staff.add("ana", "Ana Example", ["support", "sysadmin"], PASSWORD)
    assert member.roles == {Role.SUPPORT, Role.SYSADMIN}
    issued = container.staff.issue_token("ana", "laptop")
    actor = container.staff.authenticate(issued.secret)
    assert actor.kind is ActorKind.STAFF
    assert actor.id == member.id
    assert actor.roles == {Role.SUPPORT, Role.SYSADMIN}
    with container.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM api_token")).scalars().all()
        hashes = conn.execute(sa.text("SELECT password_hash FROM staff")).scalars().all()
    assert issued.secret.encode() not in b"".join(stored)
    assert hashes[0].startswith("$argon2id$")


@pytest.mark.parametrize(
    ("username", "roles", "password", "field"),
    [
        ("Bad Name", ["support"], PASSWORD, "username"),
        ("bob", [], PASSWORD, "roles"),
        ("bob", ["janitor"], PASSWORD, "roles"),
        ("bob", ["support"], "short", "password"),
    ],
)
def test_invalid_input_names_field_and_writes_nothing(
    container: Container, username: str, roles: list[str], password: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        container.staff.add(username, "Bob", roles, password)
    assert info.value.field == field
    assert count_rows(container.engine, "staff") == 0
    assert count_rows(container.engine, "staff_role") == 0


def test_duplicate_username_is_conflict(container: Container) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    with pytest.raises(Conflict):
        container.staff.add("ana", "Other Ana", ["sysadmin"], PASSWORD)
    assert count_rows(container.engine, "staff") == 1
    assert count_rows(container.engine, "staff_role") == 1


def test_token_expiry_and_revocation(container: Container, clock: FakeClock) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    short = container.staff.issue_token("ana", "short", ttl_days=1)
    other = container.staff.issue_token("ana", "other")
    clock.advance(days=2)
    with pytest.raises(AuthenticationFailed):
        container.staff.authenticate(short.secret)
    container.staff.authenticate(other.secret)
    container.staff.revoke_token(other.token.id)
    with pytest.raises(AuthenticationFailed):
        container.staff.authenticate(other.secret)
    with pytest.raises(Conflict):
        container.staff.revoke_token(other.token.id)
    with pytest.raises(NotFound):
        container.staff.revoke_token("tok_missing")
    with pytest.raises(AuthenticationFailed):
        container.staff.authenticate("ent_not-a-token")


def test_disable_revokes_everything(container: Container) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    issued = container.staff.issue_token("ana", "laptop")
    container.staff.disable("ana")
    with pytest.raises(AuthenticationFailed):
        container.staff.authenticate(issued.secret)
    with pytest.raises(AuthenticationFailed):
        container.staff.login("ana", PASSWORD, None, "127.0.0.1")
    with pytest.raises(Conflict):
        container.staff.issue_token("ana", "again")


def test_service_token_resolves_to_service_actor(container: Container) -> None:
    issued = container.staff.issue_service_token("mail_hook", "dovecot on mx1")
    actor = container.staff.authenticate(issued.secret)
    assert actor.kind is ActorKind.SERVICE
    assert actor.id == "mail_hook"
    with pytest.raises(InvalidInput) as info:
        container.staff.issue_service_token("crm", "partner")
    assert info.value.field == "service"
    assert count_rows(container.engine, "api_token") == 1


def test_login_rate_limited_per_account(container: Container, clock: FakeClock) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            container.staff.login("ana", "wrong password!", None, "192.0.2.1")
    with pytest.raises(RateLimited):
        container.staff.login("ana", PASSWORD, None, "192.0.2.2")
    clock.advance(minutes=16)
    session = container.staff.login("ana", PASSWORD, None, "192.0.2.2")
    assert container.staff.authenticate(session.secret).kind is ActorKind.STAFF


def test_login_rate_limited_per_address(container: Container) -> None:
    for i in range(20):
        with pytest.raises(AuthenticationFailed):
            container.staff.login(f"nobody{i}", "whatever-password", None, "192.0.2.9")
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    with pytest.raises(RateLimited):
        container.staff.login("ana", PASSWORD, None, "192.0.2.9")
    container.staff.login("ana", PASSWORD, None, "192.0.2.10")


def test_totp_required_once_enrolled(container: Container, clock: FakeClock) -> None:
    container.staff.add("ana", "Ana", ["support"], PASSWORD)
    uri = container.staff.enroll_totp("ana")
    assert uri.startswith("otpauth://totp/")
    container.staff.login("ana", PASSWORD, None, "127.0.0.1")  # not active until confirmed
    secret = seed_of(uri)
    with pytest.raises(InvalidInput):
        container.staff.confirm_totp(
            "ana", "000000" if current_code(secret, clock().timestamp()) != "000000" else "111111"
        )
    container.staff.confirm_totp("ana", current_code(secret, clock().timestamp()))
    with pytest.raises(AuthenticationFailed):
        container.staff.login("ana", PASSWORD, None, "127.0.0.1")
    clock.advance(seconds=30)  # the confirming code's step is spent: the next one logs in
    container.staff.login("ana", PASSWORD, current_code(secret, clock().timestamp()), "127.0.0.1")


def seed_of(uri: str) -> str:
    """The seed inside an otpauth:// URI, as an authenticator app reads it."""
    return parse_qs(urlsplit(uri).query)["secret"][0]
