"""The FTPS server on another host than the API (issue 14 item 1, P9, P11): it asks the gate
over HTTP (`/v1/ftp/...`) with the `ftp_server` service token. Real parts: the API under
uvicorn on a free loopback port, the FTPS server built as `entrusted ftp serve` builds it
with `ftp_gate_url` set (it shares nothing with the API's container), `ftplib.FTP_TLS` as the
client, on SQLite and PostgreSQL. The gate stopped: staff are refused at once, an open
customer session goes on (its last good answer, for a bounded time), new logins get 421."""

from __future__ import annotations

import ftplib
import io
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from entrusted.adapters.ftp.server import serve_in_thread
from entrusted.adapters.ftp.tls import write_selfsigned
from entrusted.bootstrap import build, ftp_tls_files, remote_ftp_server
from entrusted.config import Settings
from entrusted.entrypoints.api.app import create_app
from entrusted.services.ftp_login import password_mark
from tests.conftest import FakeClock
from tests.installations import Installations
from tests.integration.ftp_world import FtpWorld, free_port
from tests.integration.test_ftp_staff import closed, entries, wait_for
from tests.integration.test_ftp_step_names import summary_mail
from tests.integration.test_registry_sql import PASSWORD, ledgered, staff
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P9", "P11")


class Api:
    """The API under uvicorn in a thread, on a free loopback port; `stop` is the outage."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Api:
        self._thread.start()
        assert wait_for(lambda: self._server.started or None, 20), "uvicorn did not start"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass
class RemoteWorld(FtpWorld):
    api: Api
    token: str
    stop_ftp: Callable[[], None]


@pytest.fixture
def remote(
    settings: Settings, clock: FakeClock, tmp_path: Path, installations: Installations
) -> Iterator[RemoteWorld]:
    low = random.randrange(20000, 60000, 100)
    port = free_port()
    ftp_settings = settings.model_copy(
        update={
            "ftp_bind_port": port,
            "ftp_passive_ports": f"{low}-{low + 99}",
            "ftp_root_template": str(tmp_path / "ftp" / "%n"),
            "ftp_auth_failed_delay_s": 0.0,
            "ftp_session_check_s": 0.2,  # grants ended at the API reach it by this check
            "ftp_gate_timeout_s": 2.0,
        }
    )
    installations.install(ftp_settings)
    cert, key = ftp_tls_files(ftp_settings)
    write_selfsigned(cert, key, "127.0.0.1")
    c = build(ftp_settings, clock=clock)
    token = c.staff.issue_service_token("ftp_server", "ftp host").secret
    token_file = tmp_path / "ftp_server.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    api = Api(create_app(container=c)).start()
    remote_settings = ftp_settings.model_copy(
        update={"ftp_gate_url": api.url, "ftp_gate_token_file": token_file}
    )
    server, door = remote_ftp_server(remote_settings)
    stop_ftp = serve_in_thread(server)
    try:
        yield RemoteWorld(c, port, cert, tmp_path / "ftp", api, token, stop_ftp)
    finally:
        stop_ftp()
        door.close()
        api.stop()
        c.close()


def test_customers_and_staff_under_a_grant_pass_through_the_remote_gate(
    remote: RemoteWorld,
) -> None:
    w = remote
    who = w.customer(1)
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR invoice-2026.pdf", io.BytesIO(b"%PDF-1.7"))
    assert mine.nlst() == ["invoice-2026.pdf"]
    mine.quit()
    sam = staff(w.c, "sam", "support")
    case = w.c.cases.open(sam, who.contract_id, "Backup restore fails")
    with pytest.raises(ftplib.error_perm, match="530 Refused by rule ftp-space-closed-to-staff"):
        w.login(f"{who.name}*sam", PASSWORD)
    last = entries(w, sam.id)[-1]
    assert (last.decision, last.rule, last.refs.get("case")) == (
        "deny",
        "ftp-space-closed-to-staff",
        case.id,
    )
    with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
        w.login(f"{who.name}*sam", "not sam's password")
    assert ledgered(w.c)[-1].rule == "ftp.staff-unauthenticated"
    case_id, grant_id = w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    assert ftp.nlst() == ["invoice-2026.pdf"]
    got = io.BytesIO()
    ftp.retrbinary("RETR invoice-2026.pdf", got.write)
    assert got.getvalue() == b"%PDF-1.7"
    with pytest.raises(ftplib.error_perm, match="550 Read-only"):
        ftp.delete("invoice-2026.pdf")
    ftp.quit()
    steps = [(e.decision, e.rule, e.refs.get("note")) for e in entries(w, sam.id)]
    assert ("allow", "staff-enter-ftp-under-grant", "ftp retr") in steps
    assert ("deny", "ftp.read-only", "ftp dele") in steps
    # The logout reached the gate: the one-off grant's only session is closed, so it ended.
    assert wait_for(lambda: w.c.grants.get(sam, grant_id).end_reason) is not None
    w.c.cases.resolve(sam, case_id)
    assert "retr /invoice-2026.pdf" in summary_mail(w.c, case_id)  # named over HTTP too


def test_a_grant_ended_at_the_api_closes_the_remote_session(remote: RemoteWorld) -> None:
    w = remote
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR notes.txt", io.BytesIO(b"notes"))
    mine.quit()
    _, grant_id = w.grant(sam, who, read_only=True, sessions=2)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    assert ftp.nlst() == ["notes.txt"]
    with w.c.uow() as uow:
        (session,) = uow.grants.open_sessions(grant_id)  # type: ignore[attr-defined]
    w.c.grants.revoke(customer(who.id), grant_id)  # in the API's process, not the FTP host's
    assert wait_for(lambda: closed(ftp)) is True  # the periodic check, with no command sent
    ftp.close()
    # A step the server would still send under it is refused by the gate, and ledgered.
    step = {"session": {"session_id": session.id}, "command": "RETR", "name": "/notes.txt"}
    right = {"Authorization": f"Bearer {w.token}"}
    answer = httpx.post(f"{w.api.url}/v1/ftp/step", json=step, headers=right, timeout=10)
    assert answer.json() == {"ok": False}
    gone = entries(w, sam.id)[-2:]
    assert [(e.decision, e.rule, e.refs.get("note")) for e in gone] == [
        ("deny", "ftp-space-closed-to-staff", "ftp retr"),
        ("deny", "ftp.grant-gone", "ftp retr"),
    ]


def test_with_the_gate_down_staff_are_refused_and_open_customer_sessions_go_on(
    remote: RemoteWorld,
) -> None:
    w = remote
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    w.grant(sam, who, read_only=True, sessions=3)
    mine = w.login(who.name, who.password)
    mine.storbinary("STOR before.txt", io.BytesIO(b"before"))
    theirs = w.login(f"{who.name}*sam", PASSWORD)
    assert theirs.nlst() == ["before.txt"]
    w.api.stop()
    with pytest.raises(ftplib.error_temp, match="421 The access gate is unreachable"):
        theirs.nlst()
    theirs.close()
    # The customer's open session goes on: its last good answer holds for ftp_gate_grace_s.
    mine.storbinary("STOR during.txt", io.BytesIO(b"during"))
    assert sorted(mine.nlst()) == ["before.txt", "during.txt"]
    time.sleep(0.6)  # three periodic checks (ftp_session_check_s) with the gate down
    assert closed(mine) is None  # still open
    mine.quit()
    for user, password in ((f"{who.name}*sam", PASSWORD), (who.name, who.password)):
        with pytest.raises(ftplib.error_temp, match="421 The access gate is unreachable"):
            w.login(user, password)


def test_only_the_ftp_server_token_may_ask_and_others_are_ledgered(remote: RemoteWorld) -> None:
    w = remote
    who = w.customer(1)
    hook = w.c.staff.issue_service_token("mail_hook", "dovecot").secret
    wrong = {"Authorization": f"Bearer {hook}"}
    body = {"username": who.name, "password": who.password, "remote_ip": "192.0.2.7"}
    answer = httpx.post(f"{w.api.url}/v1/ftp/login", json=body, headers=wrong, timeout=10)
    assert answer.status_code == 403
    assert answer.json() == {"allow": False, "kind": "refused", "rule": "ftp.server-only"}
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.decision, last.rule) == ("mail_hook", "deny", "ftp.server-only")
    with w.c.uow() as uow:
        mark = password_mark(uow.ftp_passwords.get(who.space_id))  # type: ignore[attr-defined]
    ref = {"customer_id": who.id, "contract_id": who.contract_id, "service_id": who.space_id}
    step = {"session": {**ref, "mark": mark}, "command": "LIST"}
    answer = httpx.post(f"{w.api.url}/v1/ftp/step", json=step, headers=wrong, timeout=10)
    assert answer.status_code == 403
    last = ledgered(w.c)[-1]
    assert (last.actor_id, last.decision, last.rule) == ("mail_hook", "deny", "ftp.server-only")
    right = {"Authorization": f"Bearer {w.token}"}
    answer = httpx.post(f"{w.api.url}/v1/ftp/step", json=step, headers=right, timeout=10)
    assert answer.json() == {"ok": True}
    unknown = {"Authorization": "Bearer not-a-token"}
    answer = httpx.post(f"{w.api.url}/v1/ftp/login", json=body, headers=unknown, timeout=10)
    assert answer.status_code == 401


def test_a_session_closed_at_the_api_ends_the_remote_connection(remote: RemoteWorld) -> None:
    w = remote
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    _, grant_id = w.grant(sam, who, read_only=True, sessions=2)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    with w.c.uow() as uow:
        (session,) = uow.grants.open_sessions(grant_id)  # type: ignore[attr-defined]
    w.c.grants.end_session(sam, session.id)  # sam logs out at the API
    assert wait_for(lambda: closed(ftp)) is True
    ftp.close()
    assert w.c.grants.get(sam, grant_id).ended_at is None  # a second session is left
