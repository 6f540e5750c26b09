"""Closing an FTPS connection from another thread (issue 14, P9): a grant that ends, or the
periodic session check, runs outside the connection's thread, and pyftpdlib's scheduler (a
bare heap) is not safe to touch from there. The other thread only flags the connection; its
own loop closes it. A real server on a loopback port, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from typing import Any

import pytest

from entrusted.adapters.ftp.server import IOLoop, LiveSessions, build_server, serve_in_thread
from entrusted.bootstrap.ftp import _config
from tests.integration.ftp_world import FtpWorld, free_port, ftp_world
from tests.integration.test_ftp_staff import closed, wait_for

pytestmark = pytest.mark.promise("P9", "P11")

__all__ = ["ftp_world"]  # the fixture, imported to be found


def test_a_kick_from_another_thread_leaves_the_connections_scheduler_alone(
    ftp_world: FtpWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = ftp_world
    who = w.customer(1)
    low = random.randrange(20000, 60000, 100)
    config = replace(_config(w.c.settings), port=free_port(), passive_ports=range(low, low + 100))
    live = LiveSessions()
    halt = serve_in_thread(build_server(config, w.c.ftp_login, live, IOLoop()))
    w.port, fixture_port = config.port, w.port
    try:
        ftp = w.login(who.name, who.password)
        (handler,) = live.handlers()
        sched = handler.ioloop.sched
        callers: list[int] = []
        register = sched.register

        def recorded(what: Any) -> Any:
            callers.append(threading.get_ident())
            return register(what)

        monkeypatch.setattr(sched, "register", recorded)
        handler.kick()  # from this thread, as `LiveSessions.kick` and the session check do
        assert threading.get_ident() not in callers
        assert wait_for(lambda: closed(ftp)) is True  # its own loop closed it
        ftp.close()
    finally:
        w.port = fixture_port
        halt()
