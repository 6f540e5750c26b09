"""Dovecot: end a mailbox's live sessions with `doveadm kick`, and the passdb config snippet.

Dovecot 2.3's `doveadm kick` matches the login user (the customer's address) only: it has no
filter on the master user, and `doveadm who` does not show one. So kicking a staff member's
session also disconnects the customer's own clients for that mailbox (they reconnect on
their own). docs/mail.md explains the trade-off.
"""

from __future__ import annotations

import logging
import subprocess
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)
LUA_FILE = "dovecot_passdb.lua"


class DoveadmSessions:
    """`MailSessions` through `doveadm [-c CONFIG] kick ADDRESS`."""

    def __init__(self, doveadm: str, config: Path | None = None, timeout: float = 10.0) -> None:
        self._command = [doveadm, *(["-c", str(config)] if config else [])]
        self._timeout = timeout

    def kick(self, address: str) -> None:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell; the address is one argument
            [*self._command, "kick", "--", address],
            capture_output=True,
            text=True,
            timeout=self._timeout,
            check=False,
        )
        if done.returncode not in (0, 68):  # 68 (EX_NOUSER / "nothing to kick") is fine
            log.warning("doveadm kick failed with status %s", done.returncode)


def lua_source() -> str:
    """The shipped Lua passdb script."""
    return resources.files("entrusted.adapters.mail").joinpath(LUA_FILE).read_text("utf-8")


def settings_file(url: str, token_file: str, timeout_ms: int = 3000) -> str:
    """The Lua script's settings: a file next to it, `.conf` for `.lua` (Dovecot 2.3 passes a
    Lua passdb no parameters of its own)."""
    return f"url = {url}\ntoken_file = {token_file}\ntimeout = {timeout_ms}\n"


def passdb_snippet(lua_path: str, url: str, token_file: str) -> str:
    """The dovecot.conf lines for the staff master passdb (Dovecot 2.3), and the settings
    file the Lua script reads."""
    conf_path = lua_path.removesuffix(".lua") + ".conf"
    return f"""\
# Entrusted: staff log in as customer-address*staffname with their own password, and only
# under an active consent grant (docs/mail.md). Keep the auth cache off: a cached OK would
# outlive a revoked grant.
auth_cache_size = 0
auth_master_user_separator = *

passdb {{
  driver = lua
  args = file={lua_path} blocking=yes
  master = yes
  result_success = continue
}}
# ... followed by the customers' own passdb, which also confirms the target mailbox exists.

# {conf_path} (readable by Dovecot's auth worker; the token file holds the
# `entrusted staff service-token mail_hook` secret and nothing else, mode 0640):
{"".join("# " + line + chr(10) for line in settings_file(url, token_file).splitlines())}"""
