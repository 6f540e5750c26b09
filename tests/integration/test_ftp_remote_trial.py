"""Findings of the outside trial of the remote FTP mode (issue 14): the API believes no id the
FTP host sends without reading it back (another customer's space, made-up or replayed ids,
a mailbox grant's session), enforces read-only grants itself, shape-checks the ids (422,
ledgered under the placeholder), and a new FTP password ends the remote customer session.
Real parts as in test_ftp_remote.py: uvicorn, the FTPS server as `entrusted ftp serve`
builds it, SQLite and PostgreSQL."""

from __future__ import annotations

import ftplib
import io
from typing import Any

import httpx
import pytest

from tests.integration.test_consent_sql import WHY, link
from tests.integration.test_ftp_remote import RemoteWorld, remote
from tests.integration.test_ftp_staff import closed, entries, wait_for
from tests.integration.test_registry_sql import ledgered, staff
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P9", "P11")

__all__ = ["remote"]  # the fixture, imported to be found

GSS = "gss_0123456789abcdef"


def ask(w: RemoteWorld, route: str, body: dict[str, Any]) -> httpx.Response:
    right = {"Authorization": f"Bearer {w.token}"}
    return httpx.post(f"{w.api.url}/v1/ftp/{route}", json=body, headers=right, timeout=10)


def unknown_session(w: RemoteWorld) -> None:
    """The last entry is the refusal of a session the API could not read back, by the FTP
    server, on the placeholder id: never attributed to a customer."""
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.decision, last.rule, last.resource_id) == (
        "ftp_server",
        "deny",
        "gate.invalid-request",
        "invalid",
    )


def test_a_customer_session_is_read_back_never_believed(remote: RemoteWorld) -> None:
    w = remote
    alice, bob = w.customer(1), w.customer(2)
    forged = {"customer_id": bob.id, "contract_id": alice.contract_id, "service_id": alice.space_id}
    before = len(ledgered(w.c))
    for route, body in (
        ("step", {"session": forged, "command": "DELE"}),
        ("refuse-write", {"session": forged, "command": "DELE"}),
        ("still-live", {"session": forged}),
    ):
        answer = ask(w, route, body)
        assert answer.json() == {"ok": False}, route
        unknown_session(w)
    made_up = {
        "customer_id": "cus_0123456789abcdef",
        "contract_id": "ctr_0123456789abcdef",
        "service_id": "svc_0123456789abcdef",
    }
    assert ask(w, "refuse-write", {"session": made_up, "command": "STOR"}).json() == {"ok": False}
    unknown_session(w)
    # Even the right ids, without the mark of the password the session logged in with.
    own = {**forged, "customer_id": alice.id}
    assert ask(w, "step", {"session": own, "command": "LIST"}).json() == {"ok": False}
    unknown_session(w)
    new = ledgered(w.c)[before:]
    assert all(e.actor_id == "ftp_server" and e.resource_id == "invalid" for e in new)
    assert not [e for e in new if e.rule == "ftp.read-only"]
    # A real session still works.
    ftp = w.login(alice.name, alice.password)
    ftp.storbinary("STOR ok.txt", io.BytesIO(b"ok"))
    assert ftp.nlst() == ["ok.txt"]
    ftp.quit()


def test_made_up_or_replayed_grant_sessions_are_refused_and_ledgered(
    remote: RemoteWorld,
) -> None:
    w = remote
    assert ask(w, "step", {"session": {"session_id": GSS}, "command": "RETR"}).json() == {
        "ok": False
    }
    unknown_session(w)
    # A grant session closed at the API, replayed while its grant is still live.
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    _, grant_id = w.grant(sam, who, read_only=True, sessions=2)
    closed_id = w.c.grants.use(sam, grant_id).session.id
    w.c.grants.end_session(sam, closed_id)
    assert ask(w, "step", {"session": {"session_id": closed_id}, "command": "RETR"}).json() == {
        "ok": False
    }
    unknown_session(w)
    # Badly shaped ids: 422, ledgered under the placeholder, never the text sent.
    for ref in (
        {"session_id": "alice@example.com"},
        {"customer_id": "x", "contract_id": "ctr_0123456789abcdef", "service_id": "svc_1"},
    ):
        answer = ask(w, "step", {"session": ref, "command": "LIST"})
        assert answer.status_code == 422, answer.text
        last = ledgered(w.c)[-1]
        assert (last.actor_id, last.rule, last.resource_id) == (
            "ftp_server",
            "gate.invalid-request",
            "invalid",
        )
        assert "alice@example.com" not in answer.text


def test_the_api_enforces_a_read_only_grant(remote: RemoteWorld) -> None:
    w = remote
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    case_id, grant_id = w.grant(sam, who, read_only=True, sessions=2)
    session_id = w.c.grants.use(sam, grant_id).session.id
    for verb in ("DELE", "STOR", "RNFR", "MKD", "SITE CHMOD"):
        answer = ask(w, "step", {"session": {"session_id": session_id}, "command": verb})
        assert answer.json() == {"ok": False}, verb
        last = entries(w, sam.id)[-1]
        assert (last.decision, last.rule, last.refs.get("note")) == (
            "deny",
            "ftp.read-only",
            f"ftp {verb.lower()}",
        )
    assert ask(w, "step", {"session": {"session_id": session_id}, "command": "LIST"}).json() == {
        "ok": True
    }
    w.c.cases.resolve(sam, case_id)
    allowed = [e.refs.get("note") for e in entries(w, sam.id) if e.decision == "allow"]
    assert "ftp dele" not in allowed
    assert "ftp stor" not in allowed


def test_a_mailbox_grant_session_is_not_an_ftp_session(remote: RemoteWorld) -> None:
    w = remote
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    with w.c.uow() as uow:
        contract = uow.contracts.get(who.contract_id)  # type: ignore[attr-defined]
    mailbox = next(s.id for s in contract.services if s.kind.value == "mailbox")
    case = w.c.cases.open(sam, who.contract_id, "Mail is lost")
    req = w.c.consent.request(sam, case.id, mailbox, WHY, read_only=True, sessions=1)
    grant = w.c.consent.approve(customer(who.id), req.id, link(w.c))
    session_id = w.c.grants.use(sam, grant.id).session.id
    before = len(entries(w, sam.id))
    answer = ask(w, "step", {"session": {"session_id": session_id}, "command": "LIST"})
    assert answer.json() == {"ok": False}
    unknown_session(w)
    assert len(entries(w, sam.id)) == before  # nothing filed as sam in an FTP space


def test_a_new_ftp_password_ends_the_remote_customer_session(remote: RemoteWorld) -> None:
    w = remote
    who = w.customer(1)
    thief = w.login(who.name, who.password)
    thief.storbinary("STOR before.txt", io.BytesIO(b"x"))
    w.c.ftp_passwords.set(customer(who.id), who.space_id, "a brand new ftp password 42")
    # The periodic check (0.2 s here) closes it with no command sent.
    assert wait_for(lambda: closed(thief)) is True
    thief.close()
    with pytest.raises(ftplib.error_perm, match="530"):
        w.login(who.name, who.password)
    w.login(who.name, "a brand new ftp password 42").quit()
