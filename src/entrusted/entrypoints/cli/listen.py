"""The servers the CLI runs (`serve`, `witness serve`, `ftp serve`) take their port here, so a
port already in use is one line, `error: port 127.0.0.1:8000 is already in use`, and the exit
code of `Unavailable` (8), never a traceback or uvicorn's own exit code 3 (trial finding)."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from entrusted import errors


@contextmanager
def taking_port(host: str, port: int) -> Iterator[None]:
    """Translate the failure to bind `host:port` inside the block into `Unavailable`."""
    try:
        yield
    except OSError as exc:
        # pyftpdlib re-raises the bind error wrapped, as `OSError(err)`, without an errno
        cause = exc.args[0] if exc.errno is None and exc.args else exc
        code = cause.errno if isinstance(cause, OSError) else None
        if code == errno.EADDRINUSE:
            raise errors.Unavailable(f"port {host}:{port} is already in use") from None
        if code in (errno.EACCES, errno.EADDRNOTAVAIL):
            why = os.strerror(code)
            raise errors.Unavailable(f"cannot listen on {host}:{port}: {why}") from None
        raise


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` as uvicorn would bind it (address reuse on, so a
    restart need not wait for old connections), or `Unavailable`.

    The protocol is named (`IPPROTO_TCP`), not left 0: asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on connections whose socket says it is TCP. Without it, a response
    written in two parts (head, then body) waited for the client's delayed ACK, 40 ms on
    Linux, on every request of a kept-alive connection: `/healthz` took 44 ms a request
    instead of 2 (`bench api`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        with taking_port(host, port):
            sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve_asgi(app: Any, host: str, port: int, **options: Any) -> None:
    """`uvicorn.run`, on a socket bound here first: uvicorn itself logs a busy port and exits
    with its own code. `options` are uvicorn's `Config` keywords."""
    serve_on(app, [listening_socket(host, port)], **options)


def serve_on(app: Any, sockets: list[socket.socket], **options: Any) -> None:
    """One uvicorn server on sockets already bound (`listening_socket`), closed at the end:
    `serve --role all` with `hooks_listen` serves the public and the hook socket at once."""
    import uvicorn

    names = ", ".join(_name(sock) for sock in sockets)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # as `uvicorn.run`: Ctrl-C is the way to stop
        pass
    finally:
        for sock in sockets:
            sock.close()
    if not server.started:
        raise errors.Unavailable(f"the server on {names} did not start")


def _name(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
