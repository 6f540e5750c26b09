"""`serve --role`: which app listens where (docs/deploy.md).

- `all` (the default, for one machine): without `hooks_listen`, one listener serves
  everything, as before; with it, one process serves the public API on `bind_host:bind_port`
  and the mail and FTP login gates on `hooks_listen`, each socket only its own routes.
- `public`: the API and portal only (several instances behind a proxy, one port each).
- `hooks`: the login gates (and /healthz) only, on `hooks_listen`, which must be a loopback or
  private address unless `hooks_allow_public_address` says otherwise.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from entrusted import errors
from entrusted.bootstrap import Container
from entrusted.config import split_listen
from entrusted.entrypoints.api.listeners import ByListener
from entrusted.entrypoints.api.roles import Role, check_hooks_host
from entrusted.entrypoints.cli.listen import listening_socket
from entrusted.entrypoints.server import create_server_app as create_app


@dataclass
class Listening:
    """The app to run and the sockets it runs on (already bound), with a line per socket."""

    app: Any
    sockets: list[socket.socket]
    lines: list[str]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def hooks_address(c: Container, host: str | None, port: int | None) -> tuple[str, int]:
    """`hooks_listen`, with `--host`/`--port` (for `--role hooks`) overriding its parts."""
    s = c.settings
    base = split_listen(s.hooks_listen) if s.hooks_listen else (None, None)
    got_host, got_port = host or base[0], port or base[1]
    if got_host is None or got_port is None:
        raise errors.InvalidInput(
            "hooks_listen", "serve --role hooks needs hooks_listen (or --host and --port)"
        )
    check_hooks_host(got_host, s.hooks_allow_public_address)
    return got_host, got_port


def listen(c: Container, role: Role, host: str | None, port: int | None) -> Listening:
    """Bind what `role` serves (a busy port is `Unavailable`); nothing is bound on error."""
    s = c.settings
    public = (host or s.bind_host, port or s.bind_port)
    if role is Role.HOOKS:
        address = hooks_address(c, host, port)
        sock = listening_socket(*address)
        return Listening(create_app(container=c, role=Role.HOOKS), [sock], [_line("hooks", sock)])
    if role is Role.PUBLIC or s.hooks_listen is None:
        sock = listening_socket(*public)
        what = "API" if role is Role.ALL else "public API (no hooks)"
        return Listening(create_app(container=c, role=role), [sock], [_line(what, sock)])
    inner = hooks_address(c, None, None)
    outer = listening_socket(*public)
    try:
        hooks = listening_socket(*inner)
    except BaseException:
        outer.close()
        raise
    name = hooks.getsockname()
    app = ByListener(
        create_app(container=c, role=Role.PUBLIC),
        create_app(container=c, role=Role.HOOKS),
        (str(name[0]), int(name[1])),
    )
    lines = [_line("public API", outer), _line("hooks", hooks)]
    return Listening(app, [outer, hooks], lines)


def _line(what: str, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{what} on http://{shown}"
