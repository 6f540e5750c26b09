"""A password reset ends every session signed in with the old password (issue 11 item 9), on
SQLite and PostgreSQL: a reset after a stolen password must shut the thief out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from entrusted.bootstrap import Container
from entrusted.crypto.secrets import new_token, token_digest
from entrusted.errors import AuthenticationFailed
from tests.integration.test_consent_sql import register

pytestmark = pytest.mark.promise("P2")


def reset_link(c: Container, customer_id: str) -> str:
    """A password link as the mailed one is stored (how it is mailed is tested elsewhere)."""
    secret = new_token()
    with c.uow() as uow:
        uow.customers.set_password_token(  # type: ignore[attr-defined]
            customer_id, token_digest(secret), c.clock() + timedelta(hours=1)
        )
        uow.commit()
    return secret


def test_a_password_reset_revokes_every_session(container: Container) -> None:
    c = container
    customer_id, _, _ = register(c, 1)
    c.customer_auth.set_password(reset_link(c, customer_id), "first password 123")
    thief = c.customer_auth.login("reto1@example.com", "first password 123", "192.0.2.66")
    laptop = c.customer_auth.login("reto1@example.com", "first password 123", "192.0.2.7")
    assert c.customer_auth.authenticate(thief.secret).id == customer_id
    c.customer_auth.set_password(reset_link(c, customer_id), "second password 456")
    for stale in (thief, laptop):
        with pytest.raises(AuthenticationFailed):
            c.customer_auth.authenticate(stale.secret)
    fresh = c.customer_auth.login("reto1@example.com", "second password 456", "192.0.2.7")
    assert c.customer_auth.authenticate(fresh.secret).id == customer_id
