"""The FTPS server of the backup space (P9), on pyftpdlib, deciding every login and every
staff step through its door (`FtpDoor`): `FtpLoginService` in-process when co-located (as the
`ftp_server` service actor), or `HttpFtpDoor` over HTTP from another host.

- TLS is required on the control channel (no USER/PASS before `AUTH TLS`) and on the data
  channel (`PROT P` before any transfer or listing).
- Threaded (`ThreadedFTPServer`): each connection has its own thread and I/O loop, so one slow
  login (argon2, a database wait) never stalls the others.
- Logins are bounded per connection (`max_login_attempts`, then cut), per address and per
  account (the login-failure limits the service applies) and by simultaneous connections per
  address.
- A session's home is its space's directory; pyftpdlib resolves every path (symlinks
  included) and refuses one outside it (`550 No such file or directory.`). Listings never
  show where a link points (`SpaceFS`): a target names server paths and other spaces.
- Nobody changes modes: `SITE CHMOD` is refused (`550`), so no client makes the space
  world-writable or a file setuid (its files belong to the server's user).
- The permissions pyftpdlib checks and `MLST` reports come from the session
  (`SessionAuthorizer`, one per connection): full for the customer, `elr` when read-only.
- Staff sessions: a write under a read-only grant is refused (550) and ledgered; every other
  command that touches files asks the gate again under the grant, and a grant that ended
  meanwhile closes the connection (421). `LiveSessions` (the `GrantSessions` port) closes the
  sessions of an ended grant at once when the grant ends in this process, and a periodic
  check catches grants ended elsewhere (the API). The path a staff step touches (`RETR`'s
  file, `LIST`'s or `CWD`'s directory) goes to the door for the customer's closing summary;
  it is never logged here.
- Fail closed: when the door cannot answer (`Unavailable`: the gate unreachable, the
  database down), a login gets `421` and the connection closes; so does the next command of
  a session the door cannot vouch for (a remote door keeps a customer's last good answer for
  a bounded time, staff get none).
- Any other error of the door closes the connection (`421`), and a space directory that
  cannot be made refuses the login (`550`). pyftpdlib's log lines never carry the login name
  or a file of the space: errors are logged by their type only (`log_exception`).
- Another thread (a grant that ended, the periodic check) only flags a connection
  (`closing`); the connection's own loop acts on the flag every `CLOSE_CHECK_S`, since
  pyftpdlib's channels and scheduler are not thread-safe.

```python
server = build_server(FtpServerConfig(...), door, live)
server.serve_forever()      # or start it in a thread and stop it with server.close_all()
```
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from entrusted.domain.cases import Grant
from entrusted.domain.policy import Actor, ActorKind
from entrusted.domain.staff import ServiceName
from entrusted.errors import EntrustedError, RateLimited, Refused, Unavailable
from entrusted.services.ftp_login import FtpDoor, FtpSession, is_write

with warnings.catch_warnings():
    # pyftpdlib runs on the standard library's asyncore/asynchat, deprecated on 3.11 (their
    # import warns); the warning says nothing about this server, so it is not passed on.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.filesystems import AbstractedFS
    from pyftpdlib.handlers import ThrottledDTPHandler, TLS_DTPHandler, TLS_FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import ThreadedFTPServer

log = structlog.get_logger(__name__)
SERVER = Actor(ActorKind.SERVICE, ServiceName.FTP_SERVER.value)
# Commands that touch neither files nor names: no gate round trip for these.
PROTOCOL = frozenset(
    {"AUTH", "PBSZ", "PROT", "CCC", "USER", "PASS", "QUIT", "NOOP", "FEAT", "SYST", "OPTS"}
    | {"HELP", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "REST", "ALLO", "ABOR"}
    | {"PWD", "XPWD", "STAT", "REIN"}
)
# Commands whose path a staff step records for the customer (the file or directory it names).
NAMED = frozenset({"RETR", "LIST", "NLST", "MLSD", "MLST", "CWD", "XCWD", "CDUP", "SIZE"})
NAMED_TOO = frozenset({"MDTM", "STAT"})
UNAVAILABLE = "421 The access gate is unreachable; try again later."
FAILED = "421 This session cannot go on; try again later."
NO_HOME = "550 The space's directory is not available."
# How often a connection's own loop looks whether another thread flagged it for closing.
CLOSE_CHECK_S = 0.2
# pyftpdlib's letters: e cwd, l list, r retr, a appe, d dele, f rename, m mkd, w stor,
# T mfmt. Never `M` (SITE CHMOD): a mode is not the customer's to set (world-writable root,
# setuid files of the server's user).
FULL_PERMS = "elradfmwT"
READ_PERMS = "elr"
OUTSIDE = "points to a path which is outside"  # pyftpdlib's 550 text for such a path
NOT_FOUND = "550 No such file or directory."


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
    download_limit_bytes_s: int = 0  # 0: no limit
    upload_limit_bytes_s: int = 0


class ThrottledTLSDTPHandler(TLS_DTPHandler, ThrottledDTPHandler):  # type: ignore[misc]
    """A TLS data channel whose transfers are held to `write_limit` (downloads) and
    `read_limit` (uploads) bytes per second: pyftpdlib's throttle sits under the TLS layer,
    so it counts the bytes that cross the wire."""


class SessionAuthorizer(DummyAuthorizer):  # type: ignore[misc]  # pyftpdlib is untyped
    """pyftpdlib asks its authorizer about permissions by user name; here a login is decided
    by `FtpLoginService` (`EntrustedHandler.ftp_PASS`) and each session carries its own
    rights, so each connection gets its own authorizer with its session's perms (none before
    the login), never a user table. Paths are checked by the file system (home)."""

    def __init__(self, perms: str = "") -> None:
        super().__init__()
        self.perms = perms

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return perm in self.perms

    def get_perms(self, username: str) -> str:
        return self.perms

    def get_msg_login(self, username: str) -> str:
        return "Logged in."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        return None

    def terminate_impersonation(self, username: str) -> None:
        return None


class SpaceFS(AbstractedFS):  # type: ignore[misc]  # pyftpdlib is untyped
    """The space as its clients see it. `LIST` and `STAT` show a link as `name -> target`
    when the file system has `readlink` (`format_list` looks it up by name); without it a
    link is listed by its name only, so no listing reveals server paths or other spaces'
    names. `MLSD`/`MLST` never show targets."""

    readlink = None


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

    door: FtpDoor
    live: LiveSessions
    tls_control_required = True
    tls_data_required = True
    session: FtpSession | None = None
    closing: str | None = None  # the reply of a close decided in another thread
    # pyftpdlib's default names the login (`[office-backup*sam]`) in every line it logs.
    log_prefix = "%(remote_ip)s:%(remote_port)s"
    _watch: Any = None  # the call on this connection's own loop that acts on `closing`

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
        except Unavailable:
            self._close(UNAVAILABLE)
            return
        except EntrustedError as exc:
            self.handle_auth_failed(_reply(exc), "")
            return
        try:
            Path(session.root).mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:  # its text names the space's path: the type only is logged
            log.error("could not create an FTP space's directory", error=type(exc).__name__)
            self._leave(session)
            self._close(NO_HOME)
            return
        self.session = session
        self.authorizer = SessionAuthorizer(READ_PERMS if session.read_only else FULL_PERMS)
        self.live.add(self.key(session), self)
        if self._watch is None:  # created here, in this connection's own thread and loop
            self._watch = self.ioloop.call_every(CLOSE_CHECK_S, self._act_on_flag)
        self.handle_auth_success(session.root, "", "Logged in.")

    def key(self, session: FtpSession) -> str:
        """How `LiveSessions` knows this connection: a staff session by its grant session."""
        return f"connection-{id(self)}" if session.entry is None else session.entry.session_id

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        session = self.session
        if session is not None and self.authenticated:
            verb = cmd.upper()
            if self.closing is not None:
                self._close(self.closing)
                return
            try:
                if is_write(verb) and session.read_only:
                    self.door.refuse_write(session, verb)
                    self.respond("550 Read-only access: this grant allows no changes.")
                    return
                name = self._name(verb, arg) if session.entry is not None else None
                # `STAT path` lists a directory over the control channel: a step like LIST.
                protocol = verb in PROTOCOL and not (verb == "STAT" and arg.strip())
                if not protocol and not self.door.step(session, verb, name):
                    self._close(_ended(session))
                    return
            except Unavailable:
                self._close(UNAVAILABLE)
                return
            except EntrustedError as exc:  # anything else the door raised: fail closed
                log.error("an FTP step failed", error=type(exc).__name__)
                self._close(FAILED)
                return
        super().pre_process_command(line, cmd, arg)

    def respond(self, resp: str, *args: Any, **kwargs: Any) -> None:
        """pyftpdlib answers a path outside the space with `'/' points to a path which is
        outside the user's root directory`, quoting the wrong path; the client gets a plain
        not-found instead, which says nothing about what lies outside."""
        if resp.startswith("550 ") and OUTSIDE in resp:
            resp = NOT_FOUND
        super().respond(resp, *args, **kwargs)

    def _name(self, verb: str, arg: str) -> str | None:
        """The space's path a command names (relative to the client's `/`), for the
        customer's closing summary; None for a command that names nothing."""
        if verb not in NAMED | NAMED_TOO:
            return None
        arg = ".." if verb == "CDUP" else arg.strip()
        if verb in {"LIST", "NLST", "STAT"} and arg.startswith("-"):
            arg = arg.partition(" ")[2].strip()  # `LIST -la [path]`: options first
        if verb == "STAT" and not arg:
            return None  # the server's status, no path
        name: str = self.fs.ftpnorm(arg or self.fs.cwd)
        return name

    def check_live(self) -> None:
        """The periodic check (from the checker's thread): close this connection if its grant
        ended elsewhere or the door cannot vouch for it any more."""
        session = self.session
        if session is None:
            return
        try:
            reply = None if self.door.still_live(session) else _ended(session)
        except Unavailable:
            reply = UNAVAILABLE
        except EntrustedError as exc:
            log.error("an FTP session check failed", error=type(exc).__name__)
            reply = FAILED
        if reply is not None:
            self._close_soon(reply)

    def close(self) -> None:
        """pyftpdlib runs `on_disconnect` from the I/O loop, later; when the server shuts
        down (`close_all`) that loop runs no more callbacks, and the session's grant session
        would stay open. So it runs here at once (the later call finds nothing left)."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        super().close()
        self.on_disconnect()

    def on_disconnect(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self._leave(session)

    def _leave(self, session: FtpSession) -> None:
        self.live.remove(self.key(session))
        try:
            self.door.logout(SERVER, session)
        except EntrustedError as exc:
            log.warning("could not close an FTP grant session", error=type(exc).__name__)

    def kick(self) -> None:
        """Close this connection from another thread (a grant ended): flag it, and let its own
        I/O loop close it (its loop wakes at least every `poll_timeout`)."""
        session = self.session
        if session is not None:
            self._close_soon(_ended(session))

    def _close_soon(self, reply: str) -> None:
        """Flag the connection (its next command is refused) and let its own I/O loop close
        it (`_act_on_flag`): pyftpdlib's channels and its scheduler (a bare heap) are not
        safe to touch from another thread, so nothing else is done here."""
        self.closing = reply

    def _act_on_flag(self) -> None:
        """Every `CLOSE_CHECK_S`, on this connection's own loop: close it if flagged."""
        reply = self.closing
        if reply is not None:
            self._close(reply)

    def get_repr_info(self, as_str: bool = False, extra_info: Any = None) -> Any:
        """pyftpdlib puts this in the log line of any error: the login name and the file
        being sent or received would land in the server log. Only the connection's id and
        address remain."""
        info = {"id": id(self), "addr": f"{self.remote_ip}:{self.remote_port}"}
        if as_str:
            return ", ".join(f"{k}={v!r}" for k, v in info.items())
        return info

    def log_exception(self, instance: Any) -> None:
        """An error pyftpdlib did not handle (also its data channel's): logged by type only,
        never with the instance (its login name, its file) nor the exception's text (paths)."""
        exc = sys.exc_info()[1]
        log.error("unhandled error in an FTP connection", error=type(exc).__name__)

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
    config: FtpServerConfig, door: FtpDoor, live: LiveSessions, ioloop: IOLoop | None = None
) -> ThreadedFTPServer:
    """The configured server. pyftpdlib's acceptor runs on its process-wide `IOLoop` unless
    given one: a second server in the same process (the tests) passes its own, since
    `close_all` closes every socket of the loop it runs on."""
    attrs: dict[str, Any] = {
        "door": door,
        "live": live,
        "authorizer": SessionAuthorizer(),
        "abstracted_fs": SpaceFS,
        "certfile": str(config.cert_file),
        "keyfile": str(config.key_file),
        "ssl_context": None,
        "passive_ports": list(config.passive_ports),
        "max_login_attempts": config.max_login_attempts,
        "auth_failed_timeout": config.auth_failed_delay_s,
        "banner": "Entrusted FTPS backup space: AUTH TLS first.",
        "use_sendfile": False,
    }
    if config.download_limit_bytes_s or config.upload_limit_bytes_s:
        attrs["dtp_handler"] = type(
            "ConfiguredDTPHandler",
            (ThrottledTLSDTPHandler,),
            {
                "write_limit": config.download_limit_bytes_s,
                "read_limit": config.upload_limit_bytes_s,
            },
        )
    # pyftpdlib logs every login name and transferred path at INFO: a customer's file names
    # must not land in a server log (P9). Warnings still reach the root logger.
    ftp_log = logging.getLogger("pyftpdlib")
    ftp_log.setLevel(logging.WARNING)
    if not ftp_log.handlers:  # else pyftpdlib installs its own INFO handler on stderr
        ftp_log.addHandler(logging.NullHandler())
    handler = type("ConfiguredHandler", (EntrustedHandler,), attrs)
    server = ThreadedFTPServer((config.host, config.port), handler, ioloop=ioloop)
    server.max_cons_per_ip = config.max_connections_per_address
    server.ioloop.call_every(config.session_check_s, SessionCheck(live))
    return server


class SessionCheck:
    """Close sessions whose grant ended in another process (the API), or whose space is no
    longer theirs. Each round runs in a thread of its own, so a slow answer (a remote gate)
    never stalls the thread that accepts connections; a round still running skips the next."""

    def __init__(self, live: LiveSessions) -> None:
        self._live = live
        self._busy = threading.Lock()

    def __call__(self) -> None:
        if self._busy.acquire(blocking=False):
            threading.Thread(target=self._round, name="ftp-session-check", daemon=True).start()

    def _round(self) -> None:
        try:
            for handler in self._live.handlers():
                handler.check_live()
        finally:
            self._busy.release()


def serve_in_thread(server: ThreadedFTPServer, name: str = "ftps") -> Callable[[], None]:
    """Run `server` in a daemon thread (`entrusted serve` with `ftp_enabled`, the tests);
    the returned function stops it: its loop ends, every connection is closed (a staff
    session's grant session with it) and the thread is joined."""
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.is_set():
                server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        finally:
            server.close_all()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=10)

    return halt
