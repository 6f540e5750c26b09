"""The remote FTP server's door (`HttpFtpDoor`) fails closed (issue 14 item 1): an unreachable
gate, a 5xx or an answer it cannot read is `Unavailable`; only an open customer session keeps
its last good answer, and only for the grace period. A 4xx is the gate's definite no: it ends
a session at once, a customer's too. httpx's own in-memory transport plays the API, and a
real HTTP server on a loopback port the gate that says no."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from entrusted.adapters.ftp.gate_http import HttpFtpDoor
from entrusted.adapters.ftp.server import SERVER
from entrusted.errors import (
    AuthenticationFailed,
    InvalidInput,
    RateLimited,
    Refused,
    Unavailable,
)

pytestmark = pytest.mark.promise("P9")

CUSTOMER = {
    "actor_kind": "customer",
    "actor_id": "cus_1",
    "service_id": "svc_1",
    "holder_id": "cus_1",
    "contract_id": "ctr_1",
    "read_only": False,
    "grant": None,
    "password_mark": "0123456789abcdef0123456789abcdef",
}
STAFF = {
    **CUSTOMER,
    "actor_kind": "staff",
    "actor_id": "stf_1",
    "read_only": True,
    "grant": {
        "grant_id": "gnt_1",
        "session_id": "gss_1",
        "case_id": "cas_1",
        "expires_at": "2026-12-01T10:00:00+00:00",
    },
}


class Api:
    """Answers like /v1/ftp/..., until `down` (connection refused) or `status` is set."""

    def __init__(self) -> None:
        self.down = False
        self.status = 200
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        self.seen.append((request.url.path, request.content))
        if self.status != 200:
            return httpx.Response(self.status, json={"title": "error"})
        route = request.url.path.rsplit("/", 1)[1]
        if route == "login":
            session = STAFF if b"*" in request.content else CUSTOMER
            return httpx.Response(200, json={"allow": True, "session": session})
        return httpx.Response(200, json={"ok": True})


def door(api: Api, clock: Callable[[], float]) -> HttpFtpDoor:
    client = httpx.Client(transport=httpx.MockTransport(api))
    return HttpFtpDoor("https://gate.example", "t", "/srv/ftp/%n", grace_s=300, client=client,
                       clock=clock)  # fmt: skip


def test_an_open_customer_session_keeps_its_last_good_answer_for_the_grace_period() -> None:
    now = [1000.0]
    api = Api()
    d = door(api, lambda: now[0])
    session = d.login(SERVER, "office-backup", "pw", "192.0.2.7")
    assert session.root == "/srv/ftp/office-backup"
    assert session.entry is None
    api.down = True
    now[0] += 299
    assert d.step(session, "STOR") is True
    assert d.still_live(session) is True
    now[0] += 2
    with pytest.raises(Unavailable, match="unreachable"):
        d.step(session, "STOR")
    with pytest.raises(Unavailable):
        d.login(SERVER, "office-backup", "pw", "192.0.2.7")


def test_staff_get_no_grace_and_names_travel_only_for_staff() -> None:
    api = Api()
    d = door(api, lambda: 0.0)
    session = d.login(SERVER, "office-backup*sam", "pw", "192.0.2.7")
    assert session.entry is not None
    assert (session.read_only, session.entry.session_id) == (True, "gss_1")
    assert d.step(session, "RETR", "/invoice-2026.pdf") is True
    assert b"/invoice-2026.pdf" in api.seen[-1][1]
    assert b'"session_id":"gss_1"' in api.seen[-1][1].replace(b" ", b"")
    customer = d.login(SERVER, "office-backup", "pw", "192.0.2.7")
    d.step(customer, "RETR", "/invoice-2026.pdf")
    assert b"invoice" not in api.seen[-1][1]
    api.down = True
    with pytest.raises(Unavailable):
        d.step(session, "LIST")
    with pytest.raises(Unavailable):
        d.still_live(session)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_fails_closed(status: int) -> None:
    api = Api()
    d = door(api, lambda: 0.0)
    staff = d.login(SERVER, "office-backup*sam", "pw", "192.0.2.7")
    api.status = status
    with pytest.raises(Unavailable, match=f"status {status}"):
        d.login(SERVER, "office-backup*sam", "pw", "192.0.2.7")
    with pytest.raises(Unavailable):
        d.step(staff, "LIST")


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        ({"allow": False, "kind": "refused", "rule": "ftp-space-closed-to-staff"}, Refused),
        ({"allow": False, "kind": "rate_limited", "rule": None}, RateLimited),
        ({"allow": False, "kind": "failed", "rule": None}, AuthenticationFailed),
    ],
)
def test_a_refused_login_comes_back_as_the_in_process_door_raises_it(
    answer: dict[str, object], raised: type[Exception]
) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(403, json=answer)))
    d = HttpFtpDoor("https://gate.example", "t", "/srv/ftp/%n", client=client)
    with pytest.raises(raised) as exc:
        d.login(SERVER, "office-backup*sam", "pw", "192.0.2.7")
    if isinstance(exc.value, Refused):
        assert exc.value.decision.rule_id == "ftp-space-closed-to-staff"


@pytest.mark.parametrize("content", [b"<html>proxy error</html>", b"[]", b'{"ok": "yes"}'])
def test_an_answer_this_server_cannot_read_fails_closed(content: bytes) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/login"):
            return httpx.Response(200, json={"allow": True, "session": STAFF})
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    d = HttpFtpDoor("https://gate.example", "t", "/srv/ftp/%n",
                    client=httpx.Client(transport=httpx.MockTransport(api)))  # fmt: skip
    staff = d.login(SERVER, "office-backup*sam", "pw", "192.0.2.7")
    with pytest.raises(Unavailable, match="unreachable"):
        d.step(staff, "LIST")


@pytest.mark.parametrize(
    "url", ["http://gate.example", "http://192.0.2.7:8000", "ftp://gate.example", "gate.example"]
)
def test_a_gate_url_off_this_host_must_be_https(url: str) -> None:
    with pytest.raises(InvalidInput, match=r"ftp_gate_url.*https://"):
        HttpFtpDoor(url, "t", "/srv/ftp/%n")


@pytest.mark.parametrize(
    "url",
    ["https://gate.example", "http://127.0.0.1:8000", "http://[::1]:8000", "http://localhost"],
)
def test_https_or_a_loopback_gate_url_is_taken(url: str) -> None:
    HttpFtpDoor(url, "t", "/srv/ftp/%n").close()


class Gate(BaseHTTPRequestHandler):
    """A real HTTP gate on a loopback port: lets the first login in, then answers `refuse`
    (a revoked token's 401, a 403, a 422) to everything."""

    refuse = 401
    logins = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        first = self.path.endswith("/login") and Gate.logins == 0
        if first:
            Gate.logins += 1
            status, body = 200, {"allow": True, "session": CUSTOMER}
        else:
            status, body = Gate.refuse, {"title": "refused"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - its name
        return None


@pytest.fixture
def gate_url() -> Iterator[str]:
    Gate.logins = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("status", [401, 403, 422])
def test_a_definite_no_from_the_gate_ends_a_customer_session_without_grace(
    gate_url: str, status: int
) -> None:
    Gate.refuse = status
    d = HttpFtpDoor(gate_url, "revoked", "/srv/ftp/%n", grace_s=300)
    try:
        session = d.login(SERVER, "office-backup", "pw", "192.0.2.7")  # vouched for just now
        assert d.step(session, "STOR") is False  # within the grace period: no grace for a no
        assert d.still_live(session) is False
        with pytest.raises(AuthenticationFailed):  # a 403 is the login route's own refusal
            d.login(SERVER, "office-backup", "pw", "192.0.2.7")
    finally:
        d.close()
