"""`FtpDoor` over HTTP: the FTP server on another host than the API asks the gate at
`/v1/ftp/...` with the `ftp_server` service token (entrypoints/api/ftp_gate.py), as Dovecot's
Lua hook does for mail.

Fail closed, in two ways:

- A **definite no**: any `4xx` but the ones a route promises (a `401` for a revoked token, a
  `403` `ftp.server-only`, a `422`) is `AuthenticationFailed`: the gate answered and said
  no. A login is refused (`530`); an open session, a customer's too, is over at once
  (`step` and `still_live` answer False), with no grace period.
- **No answer**: a gate that cannot be reached, times out, answers a `5xx` or anything this
  server cannot read is `Unavailable`, and the server refuses (`421`): no new login passes
  and a staff session's next command closes it. One exception, for customers only: an open
  customer session keeps the last good answer that the space is still theirs for `grace_s`
  (5 minutes by default), so a short outage of the API does not cut a customer's backup
  upload; after that, their next command closes the session too. A staff session never gets
  a grace period: its grant may have ended meanwhile.

The caller passed to `login` and `logout` is ignored: the token says who asks.

The URL must be `https://` unless the API is on this host (127.0.0.0/8, `::1`, `localhost`):
the calls carry the passwords FTP clients type and the names staff open (`InvalidInput` at
start, naming `ftp_gate_url`, otherwise).

```python
door = HttpFtpDoor("https://entrusted.example.com", token, "/srv/ftp/%n")
session = door.login(SERVER, "office-backup*sam", password, "192.0.2.7")
```
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from entrusted.domain.hosts import token_may_travel
from entrusted.domain.policy import Actor, ActorKind, Decision, Effect, Resource, ResourceKind
from entrusted.errors import AuthenticationFailed, InvalidInput, RateLimited, Refused, Unavailable
from entrusted.services.ftp_login import STAFF_SEPARATOR, FtpSession, SessionRef, space_root
from entrusted.services.grant_entry import Entry

UNREACHABLE = "the access gate is unreachable"


def check_gate_url(url: str) -> str:
    """`url` if it is `https://`, or `http://` to this host only; InvalidInput otherwise."""
    if token_may_travel(url):
        return url
    raise InvalidInput(
        "ftp_gate_url",
        "must be an https:// URL (http:// only to a loopback address: 127.0.0.0/8, ::1, "
        "localhost): the calls carry the FTP passwords clients type",
    )


class HttpFtpDoor:
    def __init__(
        self,
        url: str,
        token: str,
        root_template: str,
        timeout_s: float = 3.0,
        grace_s: float = 300.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = check_gate_url(url).rstrip("/") + "/v1/ftp"
        self._client = client or httpx.Client(
            timeout=timeout_s,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {token}"},
        )
        self._template = root_template
        self._grace = grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[SessionRef, float] = {}  # customer sessions: last good answer

    def close(self) -> None:
        self._client.close()

    # --- FtpDoor ---------------------------------------------------------------------------

    def login(self, caller: Actor, username: str, password: str, remote_ip: str) -> FtpSession:
        body = {"username": username, "password": password, "remote_ip": remote_ip}
        status, data = self._post("login", body, allowed=(200, 403))
        if status == 403:
            raise _refusal(data)
        session = self._session(username, data.get("session"))
        if session.entry is None:
            self._vouch(SessionRef.of(session))
        return session

    def step(self, session: FtpSession, command: str, name: str | None = None) -> bool:
        body: dict[str, Any] = {"session": _ref(session), "command": command}
        if name is not None and session.entry is not None:
            body["name"] = name
        return self._held_or_ask(session, "step", body)

    def still_live(self, session: FtpSession) -> bool:
        return self._held_or_ask(session, "still-live", {"session": _ref(session)})

    def refuse_write(self, session: FtpSession, command: str) -> None:
        self._post("refuse-write", {"session": _ref(session), "command": command})

    def logout(self, server: Actor, session: FtpSession) -> None:
        self._post("logout", {"session": _ref(session)})

    # --- the wire ---------------------------------------------------------------------------

    def _held_or_ask(self, session: FtpSession, route: str, body: dict[str, Any]) -> bool:
        """The gate's answer; for a customer's session, the last good one within the grace
        period when the gate cannot be reached. A definite no (`4xx`) ends the session."""
        ref = SessionRef.of(session)
        try:
            ok = self._ok(route, body)
        except AuthenticationFailed:
            ok = False
        except Unavailable:
            if session.entry is not None:
                raise
            with self._lock:
                vouched = self._held.get(ref)
            if vouched is None or self._clock() - vouched > self._grace:
                raise
            return True
        if session.entry is None:
            if ok:
                self._vouch(ref)
            else:
                with self._lock:
                    self._held.pop(ref, None)
        return ok

    def _ok(self, route: str, body: dict[str, Any]) -> bool:
        ok = self._post(route, body)[1].get("ok")
        if not isinstance(ok, bool):
            raise Unavailable(f"{UNREACHABLE} (an answer on {route} this server cannot read)")
        return ok

    def _vouch(self, ref: SessionRef) -> None:
        """Remember a good answer (shared by the customer's connections to the same space);
        answers older than the grace period are dropped, so the table stays small."""
        now = self._clock()
        with self._lock:
            self._held[ref] = now
            stale = [r for r, at in self._held.items() if now - at > self._grace]
            for r in stale:
                del self._held[r]

    def _post(
        self, route: str, body: dict[str, Any], allowed: tuple[int, ...] = (200,)
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON object) of one call; another `4xx` is `AuthenticationFailed` (the
        gate's definite no), anything else `Unavailable` (fail closed)."""
        try:
            response = self._client.post(f"{self._url}/{route}", json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{UNREACHABLE} ({type(exc).__name__})") from None
        if response.status_code not in allowed and 400 <= response.status_code < 500:
            raise AuthenticationFailed(
                f"the access gate refused this server's call (status {response.status_code}"
                f" on {route})"
            )
        if response.status_code not in allowed:
            raise Unavailable(f"{UNREACHABLE} (status {response.status_code} on {route})")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Unavailable(f"{UNREACHABLE} (no JSON answer on {route})")
        return response.status_code, data

    def _session(self, username: str, s: Any) -> FtpSession:
        """The session as the API described it; its directory from this server's template."""
        try:
            space = username.rpartition(STAFF_SEPARATOR)[0] or username
            resource = Resource(ResourceKind.FTP_SPACE, s["service_id"], owner=s["holder_id"])
            root = space_root(self._template, space, s["service_id"])
            g = s["grant"]
            if g is None:
                actor = Actor(ActorKind.CUSTOMER, s["actor_id"])
                mark = str(s["password_mark"])
                return FtpSession(actor, resource, s["contract_id"], root, False, None, mark)
            member = Actor(ActorKind.STAFF, s["actor_id"])
            entry = Entry(
                g["grant_id"],
                g["session_id"],
                g["case_id"],
                datetime.fromisoformat(g["expires_at"]),
                bool(s["read_only"]),
                s["service_id"],
                s["holder_id"],
                s["contract_id"],
                member,
            )
            return FtpSession(member, resource, s["contract_id"], root, entry.read_only, entry)
        except (KeyError, TypeError, ValueError):
            raise Unavailable(f"{UNREACHABLE} (a login answer this server cannot read)") from None


def _ref(session: FtpSession) -> dict[str, str | None]:
    ref = SessionRef.of(session)
    return {
        "session_id": ref.session_id,
        "customer_id": ref.customer_id,
        "contract_id": ref.contract_id,
        "service_id": ref.service_id,
        "mark": ref.mark,
    }


def _refusal(data: dict[str, Any]) -> Exception:
    """The login refusal as the in-process door raises it, for the same `530` reply."""
    kind = data.get("kind")
    if kind == "refused":
        rule = str(data.get("rule") or "unknown")
        return Refused(Decision(Effect.FORBID, rule, "refused by the gate"))
    if kind == "rate_limited":
        return RateLimited("too many failed logins", 60)
    return AuthenticationFailed("wrong account name or password")
