"""The FTPS server of the backup space (P9), on pyftpdlib, deciding every login and every
staff step through `FtpLoginService` in-process (as the `ftp_server` service actor).

- TLS is required on the control channel (no USER/PASS before `AUTH TLS`) and on the data
  channel (`PROT P` before any transfer or listing).
- Threaded (`ThreadedFTPServer`): each connection has its own thread and I/O loop, so one slow
  login (argon2, a database wait) never stalls the others.
- Logins are bounded per connection (`max_login_attempts`, then cut), per address and per
  account (the login-failure limits the service applies) and by simultaneous connections per
  address.
- A session's home is its space's directory; pyftpdlib resolves every path (symlinks
  included) and refuses one outside it.
- Staff sessions: a write under a read-only grant is refused (550) and ledgered; every other
  command that touches files asks the gate again under the grant, and a grant that ended
  meanwhile closes the connection (421). `LiveSessions` (the `GrantSessions` port) closes the
  sessions of an ended grant at once when the grant ends in this process, and a periodic
  check catches grants ended elsewhere (the API).

```python
server = build_server(FtpServerConfig(...), door, live)
server.serve_forever()      # or start it in a thread and stop it with server.close_all()
```
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from entrusted.domain.cases import Grant
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.staff import ServiceName
from entrusted.errors import EntrustedError, RateLimited, Refused
from entrusted.services.ftp_login import FtpLoginService, FtpSession

with warnings.catch_warnings():
    # pyftpdlib runs on the standard library's asyncore/asynchat, deprecated on 3.11 (their
    # import warns); the warning says nothing about this server, so it is not passed on.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

log = structlog.get_logger(__name__)
SERVER = Actor(ActorKind.SERVICE, ServiceName.FTP_SERVER.value)
WRITES = frozenset(
    {"STOR", "STOU", "APPE", "DELE", "RMD", "XRMD", "MKD", "XMKD", "RNFR", "RNTO"}
    | {"SITE CHMOD", "MFMT", "SITE"}
)
# Commands that touch neither files nor names: no gate round trip for these.
PROTOCOL = frozenset(
    {"AUTH", "PBSZ", "PROT", "CCC", "USER", "PASS", "QUIT", "NOOP", "FEAT", "SYST", "OPTS"}
    | {"HELP", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "REST", "ALLO", "ABOR"}
    | {"PWD", "XPWD", "STAT", "REIN"}
)
FULL_PERMS = "elradfmwMT"
READ_PERMS = "elr"


@dataclass(frozen=True, slots=True)
class FtpServerConfig:
    host: str
    port: int
    cert_file: Path
    key_file: Path
    passive_ports: range
    max_login_attempts: int = 3
    auth_failed_delay_s: float = 2.0
    max_connections_per_address: int = 10
    session_check_s: float = 5.0


class SessionAuthorizer(DummyAuthorizer):  # type: ignore[misc]  # pyftpdlib is untyped
    """pyftpdlib asks its authorizer about permissions by user name; here a login is decided
    by `FtpLoginService` (`EntrustedHandler.ftp_PASS`) and each session carries its own
    rights, so this answers from the handler's session, never from a user table."""

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return True  # paths are checked by the file system (home), writes by the handler

    def get_perms(self, username: str) -> str:
        return FULL_PERMS

    def get_msg_login(self, username: str) -> str:
        return "Logged in."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        return None

    def terminate_impersonation(self, username: str) -> None:
        return None


class LiveSessions:
    """The `GrantSessions` port of the FTP server: its open staff sessions by grant session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, EntrustedHandler] = {}

    def add(self, session_id: str, handler: EntrustedHandler) -> None:
        with self._lock:
            self._open[session_id] = handler

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._open.pop(session_id, None)

    def handlers(self) -> list[EntrustedHandler]:
        with self._lock:
            return list(self._open.values())

    def kick(self, grant: Grant) -> None:
        for handler in self.handlers():
            entry = handler.session.entry if handler.session else None
            if entry is not None and entry.grant_id == grant.id:
                handler.kick()

    def end(self, session_id: str) -> None:
        with self._lock:
            handler = self._open.get(session_id)
        if handler is not None:
            handler.kick()


class EntrustedHandler(TLS_FTPHandler):  # type: ignore[misc]  # pyftpdlib is untyped
    """One FTPS connection; the class attributes are set by `build_server`."""

    door: FtpLoginService
    live: LiveSessions
    tls_control_required = True
    tls_data_required = True
    session: FtpSession | None = None
    kicked = False

    def ftp_PASS(self, line: str) -> None:  # noqa: N802 - pyftpdlib dispatches on this name
        if self.authenticated:
            self.respond("503 User already authenticated.")
            return
        if not self.username:
            self.respond("503 Login with USER first.")
            return
        previous, self.session = self.session, None
        if previous is not None:  # USER or REIN mid-session: the old session ends first
            self._leave(previous)
        try:
            session = self.door.login(SERVER, self.username, line, self.remote_ip)
        except EntrustedError as exc:
            self.handle_auth_failed(_reply(exc), "")
            return
        self.session = session
        self.live.add(self.key(session), self)
        Path(session.root).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.handle_auth_success(session.root, "", "Logged in.")

    def key(self, session: FtpSession) -> str:
        """How `LiveSessions` knows this connection: a staff session by its grant session."""
        return f"connection-{id(self)}" if session.entry is None else session.entry.session_id

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        session = self.session
        if session is not None and self.authenticated:
            verb = cmd.upper()
            if self.kicked:
                self._close(_ended(session))
                return
            if verb in WRITES and session.read_only:
                self.door.refuse_write(session, verb)
                self.respond("550 Read-only access: this grant allows no changes.")
                return
            if verb not in PROTOCOL and not self.door.step(session, verb):
                self._close(_ended(session))
                return
        super().pre_process_command(line, cmd, arg)

    def on_disconnect(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self._leave(session)

    def _leave(self, session: FtpSession) -> None:
        self.live.remove(self.key(session))
        try:
            self.door.logout(SERVER, session)
        except EntrustedError:
            log.warning("could not close an FTP grant session", exc_info=True)

    def kick(self) -> None:
        """Close this connection from another thread (a grant ended): flag it, and let its own
        I/O loop close it (its loop wakes at least every `poll_timeout`)."""
        self.kicked = True
        session = self.session
        if session is not None:
            self.ioloop.call_later(0, self._close, _ended(session))

    def _close(self, reply: str) -> None:
        if not self._closed:
            self.respond(reply)
            self.close_when_done()


def _ended(session: FtpSession) -> str:
    if session.entry is not None:
        return "421 The grant of this session has ended."
    return "421 This FTP space is no longer held by this account."


def _reply(exc: EntrustedError) -> str:
    """The 530 text of a refused login: the rule that refused (its reason is in the ledger),
    else one text for every credential failure, so a reply never tells whether an account
    or a space exists."""
    if isinstance(exc, Refused):
        return f"refused by rule {exc.decision.rule_id}."
    if isinstance(exc, RateLimited):
        return "too many failed logins; try again later."
    return "authentication failed."


def build_server(
    config: FtpServerConfig, door: FtpLoginService, live: LiveSessions
) -> ThreadedFTPServer:
    attrs: dict[str, Any] = {
        "door": door,
        "live": live,
        "authorizer": SessionAuthorizer(),
        "certfile": str(config.cert_file),
        "keyfile": str(config.key_file),
        "ssl_context": None,
        "passive_ports": list(config.passive_ports),
        "max_login_attempts": config.max_login_attempts,
        "auth_failed_timeout": config.auth_failed_delay_s,
        "banner": "Entrusted FTPS backup space: AUTH TLS first.",
        "use_sendfile": False,
    }
    # pyftpdlib logs every login name and transferred path at INFO: a customer's file names
    # must not land in a server log (P9). Warnings still reach the root logger.
    ftp_log = logging.getLogger("pyftpdlib")
    ftp_log.setLevel(logging.WARNING)
    if not ftp_log.handlers:  # else pyftpdlib installs its own INFO handler on stderr
        ftp_log.addHandler(logging.NullHandler())
    handler = type("ConfiguredHandler", (EntrustedHandler,), attrs)
    server = ThreadedFTPServer((config.host, config.port), handler)
    server.max_cons_per_ip = config.max_connections_per_address
    server.ioloop.call_every(config.session_check_s, _check_sessions, door, live)
    return server


def _check_sessions(door: FtpLoginService, live: LiveSessions) -> None:
    """Close staff sessions whose grant ended in another process (the API)."""
    for handler in live.handlers():
        session = handler.session
        if session is not None and not door.still_live(session):
            handler.kick()
