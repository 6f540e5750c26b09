"""FTP-specific customer passwords (issue 14 item 2, P9), through the API on SQLite and
PostgreSQL and then over real FTPS: the customer sets their space's password with their own
token; the account password no longer opens the space; another customer, staff (with or
without a grant) and bad input are refused and change nothing; a transfer clears it; a
failed login is counted under a keyed hash, never the typed name."""

from __future__ import annotations

import ftplib
import io
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from entrusted.adapters.db import tables as t
from entrusted.entrypoints.api.app import create_app
from tests.e2e.test_api_registry import bearer, staff_token
from tests.integration.ftp_world import FtpCustomer, FtpWorld, ftp_world
from tests.integration.test_consent_sql import identify
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import http_default_denied, http_refused

pytestmark = pytest.mark.promise("P9")

__all__ = ["ftp_world"]  # the fixture, imported to be found

NEW = "a brand new ftp password 42"


@pytest.fixture
def client(ftp_world: FtpWorld) -> Iterator[TestClient]:
    with TestClient(create_app(container=ftp_world.c)) as c:
        yield c


def token(client: TestClient, n: int, who: FtpCustomer) -> dict[str, str]:
    r = client.post(
        "/v1/customers/login",
        json={"email": f"reto{n}@example.com", "password": who.account_password},
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["token"])


def put(client: TestClient, space_id: str, headers: dict[str, str], password: str) -> Any:
    return client.put(
        f"/v1/ftp-spaces/{space_id}/password", json={"password": password}, headers=headers
    )


def stored(w: FtpWorld, space_id: str) -> str | None:
    with w.c.uow() as uow:
        return uow.ftp_passwords.get(space_id)  # type: ignore[attr-defined,no-any-return]


def test_the_customer_sets_the_password_and_logs_in_with_it_only(
    ftp_world: FtpWorld, client: TestClient
) -> None:
    w = ftp_world
    one = w.customer(1)
    mine = token(client, 1, one)
    r = put(client, one.space_id, mine, NEW)
    assert r.status_code == 204, r.text
    decision, outcome = ledgered(w.c)[-2:]
    assert (decision.actor_id, decision.decision, decision.rule, decision.resource_id) == (
        one.id,
        "allow",
        "customer-sets-own-ftp-password",
        one.space_id,
    )
    assert (outcome.decision, outcome.rule, outcome.owner) == ("allow", "ftp.password-set", one.id)
    hashed = stored(w, one.space_id)
    assert hashed is not None
    assert hashed.startswith("$argon2id$")
    assert NEW not in hashed
    ftp = w.login(one.name, NEW)
    ftp.storbinary("STOR backup.tar", io.BytesIO(b"backup"))
    assert ftp.nlst() == ["backup.tar"]
    ftp.quit()
    # The account password, the former FTP password and a wrong one: each 530, ledgered.
    for wrong in (one.account_password, one.password, "not the password at all"):
        with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
            w.login(one.name, wrong)
        last = ledgered(w.c)[-1]
        assert (last.actor_id, last.decision, last.rule, last.resource_id) == (
            "ftp_server",
            "deny",
            "ftp.customer-unauthenticated",
            one.space_id,
        )


def test_a_space_without_an_ftp_password_takes_no_login(ftp_world: FtpWorld) -> None:
    w = ftp_world
    one = w.customer(1)
    with w.c.uow() as uow:
        uow.ftp_passwords.clear([one.space_id])  # type: ignore[attr-defined]
        uow.commit()
    for password in (one.password, one.account_password):
        with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
            w.login(one.name, password)
    # An unknown account gets the very same answer.
    with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
        w.login("no-such-space", one.password)


def test_failed_logins_are_counted_under_a_keyed_hash_not_the_typed_name(
    ftp_world: FtpWorld,
) -> None:
    w = ftp_world
    one = w.customer(1)
    typed = [one.name, "typo-space-name", "not a valid name!"]
    for name in typed:
        with pytest.raises(ftplib.error_perm, match="530"):
            w.login(name, "wrong password entirely")
    with w.c.engine.connect() as conn:
        accounts = list(conn.execute(sa.select(t.login_failure.c.account)).scalars())
    assert len(set(accounts)) == len(accounts) == 3
    assert not [a for a in accounts if any(n in a for n in typed)], accounts
    assert all(a.startswith("ftp:") and len(a) == 44 for a in accounts)
    # The right password clears the space's own count; the others stay.
    w.login(one.name.upper(), one.password).quit()
    with w.c.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.login_failure)).scalar() == 2


def test_another_customer_and_staff_are_refused_and_nothing_changes(
    ftp_world: FtpWorld, client: TestClient
) -> None:
    w = ftp_world
    one, two = w.customer(1), w.customer(2)
    before = stored(w, one.space_id)
    r = put(client, one.space_id, token(client, 2, two), NEW)
    http_default_denied(r, "customer to update ftp_space", without="owns_resource")
    assert ledgered(w.c)[-1].actor_id == two.id
    # Staff never, not even under a grant for that very space (that grant lets them in,
    # read-only, with their own password).
    sam = staff(w.c, "sam", "support")
    identify(w.c, sam, one.id, None)
    w.grant(sam, one, read_only=False)
    r = put(client, one.space_id, staff_token(w.c, "kim", "sysadmin"), NEW)
    http_refused(r, "staff-never-set-ftp-passwords")
    sam_token = bearer(w.c.staff.issue_token("sam", "test").secret)
    http_refused(put(client, one.space_id, sam_token, NEW), "staff-never-set-ftp-passwords")
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.decision) == (sam.id, "deny")
    assert stored(w, one.space_id) == before
    w.login(one.name, one.password).quit()


def test_bad_input_is_422_and_changes_nothing(ftp_world: FtpWorld, client: TestClient) -> None:
    w = ftp_world
    one = w.customer(1)
    mine = token(client, 1, one)
    before, size = stored(w, one.space_id), w.c.ledger_store.stored_size()
    for body in ({"password": "too short"}, {"password": ""}, {}, {"password": "x" * 1025}):
        r = client.put(f"/v1/ftp-spaces/{one.space_id}/password", json=body, headers=mine)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (stored(w, one.space_id), w.c.ledger_store.stored_size()) == (before, size)
    # A malformed id: refused as an invalid request (ledgered, placeholder id), before any
    # query; one with a NUL never reaches a route (the API's middleware, 422).
    r = put(client, "svc_x", mine, NEW)
    assert r.status_code == 422, r.text
    last = ledgered(w.c)[-1]
    assert (last.decision, last.rule, last.resource_id) == (
        "deny",
        "gate.invalid-request",
        "invalid",
    )
    assert put(client, "svc_%00x", mine, NEW).status_code == 422
    # A well-formed id that names no FTP space (here: the customer's mailbox) is 404.
    with w.c.uow() as uow:
        contract = uow.contracts.get(one.contract_id)  # type: ignore[attr-defined]
    mailbox = next(s.id for s in contract.services if s.kind.value == "mailbox")
    for missing in ("svc_0000000000000000", mailbox):
        assert put(client, missing, mine, NEW).status_code == 404
    assert stored(w, one.space_id) == before
    # Without a token at all: 401.
    assert put(client, one.space_id, {}, NEW).status_code == 401


def test_a_transfer_clears_the_ftp_password(ftp_world: FtpWorld, client: TestClient) -> None:
    w = ftp_world
    one, two = w.customer(1), w.customer(2)
    sam = staff(w.c, "sam", "support")
    identify(w.c, sam, one.id, None)
    w.c.contracts.transfer(sam, one.contract_id, to_customer=two.id)
    assert stored(w, one.space_id) is None
    with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
        w.login(one.name, one.password)
    # The former holder cannot set it again; the new holder can, and logs in with it.
    r = put(client, one.space_id, token(client, 1, one), NEW)
    http_default_denied(r, "customer to update ftp_space", without="owns_resource")
    assert put(client, one.space_id, token(client, 2, two), NEW).status_code == 204
    w.login(one.name, NEW).quit()
    # The other space of the new holder kept its own password.
    w.login(two.name, two.password).quit()
