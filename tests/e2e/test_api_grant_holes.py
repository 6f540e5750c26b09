"""Issue 11 items 1 and 2 over HTTP: a service token cannot revoke a customer's grant or deny
an access request for them, and a customer cannot consume a grant meant for a staff member.
Each refusal names its rule and is in the ledger."""

from __future__ import annotations

import pytest

from entrusted.bootstrap import Container
from tests.e2e.test_authorization_matrix import Who, World, ledger
from tests.e2e.test_authorization_matrix import world as world  # noqa: PLC0414 - the fixture

pytestmark = pytest.mark.promise("P11", "P12")


def by_label(whos: list[Who]) -> dict[str, Who]:
    return {w.label: w for w in whos}


def test_service_tokens_cannot_revoke_grants_or_deny_requests(world: World) -> None:
    client, whos, ids = world
    c: Container = client.app.state.container  # type: ignore[attr-defined]
    who = by_label(whos)
    for name in ("signup", "mail_hook", "ftp_server"):
        before = c.ledger_store.stored_size()
        r = client.post(f"/v1/grants/{ids['grant_id']}/revoke", headers=who[name].headers)
        assert r.status_code == 403, (name, r.text)
        assert r.json().get("rule") is None  # default deny: no rule lets this integration
        assert f"{name} to delete grant" in r.json()["reason"]
        refused = [e for e in ledger(c, before) if e.actor_id == name]
        assert [(e.action, e.decision) for e in refused] == [("delete", "deny")]
        r = client.post(f"/v1/access-requests/{ids['request_id']}/deny", json={},
                        headers=who[name].headers)
        assert (r.status_code, r.json().get("rule")) == (403, None)
    mine = who["customer A"].headers
    assert client.get(f"/v1/grants/{ids['grant_id']}", headers=mine).json()["active"] is True
    pending = client.get(f"/v1/access-requests/{ids['request_id']}", headers=mine).json()
    assert pending["status"] == "pending"


def test_the_holder_cannot_consume_the_agents_grant(world: World) -> None:
    client, whos, ids = world
    c: Container = client.app.state.container  # type: ignore[attr-defined]
    who = by_label(whos)
    url = f"/v1/grants/{ids['grant_id']}/use"
    before = c.ledger_store.stored_size()
    for name in ("customer A", "customer B", "sysadmin", "mail_hook"):
        r = client.post(url, headers=who[name].headers)
        assert (r.status_code, r.json()["rule"]) == (403, "consent.not-the-grantee"), r.text
    refused = [e for e in ledger(c, before) if e.rule == "consent.not-the-grantee"]
    assert len(refused) == 4
    assert {e.decision for e in refused} == {"deny"}
    holder = who["customer A"].actor
    assert holder is not None
    assert holder.id in {e.actor_id for e in refused}
    r = client.post(url, headers=who["support"].headers)  # the named agent still can
    assert r.status_code == 200, r.text
    assert r.json()["session"]["staff_id"] == who["support"].actor.id  # type: ignore[union-attr]


def test_only_the_server_a_session_runs_on_closes_it(world: World) -> None:
    client, whos, ids = world
    who = by_label(whos)
    url = f"/v1/grants/sessions/{ids['session_id']}/end"
    for name in ("signup", "ftp_server", "customer A", "sysadmin"):
        r = client.post(url, headers=who[name].headers)
        assert (r.status_code, r.json()["rule"]) == (403, "consent.session"), (name, r.text)
    r = client.post(url, headers=who["mail_hook"].headers)  # a mailbox grant's session
    assert r.status_code == 200, r.text
