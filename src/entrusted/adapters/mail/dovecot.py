"""Dovecot: end a mailbox's live sessions with `doveadm kick`, and the config snippet (the
staff master passdb and the ACLs that make a read-only grant read-only).

Dovecot 2.3's `doveadm kick` matches the login user (the customer's address) only: it has no
filter on the master user, and `doveadm who` does not show one. So kicking a staff member's
session also disconnects the customer's own clients for that mailbox (they reconnect on
their own). docs/mail.md explains the trade-off.

Why ACLs keyed on a group: with the `acl` plugin loaded, a master-user login is subject to
ACLs as the master user (the staff name), who is not the mailbox's owner and so has no
rights at all by default. The Lua passdb puts each allowed staff login into one of two ACL
groups (`userdb_acl_groups`), read-only or read-write as the grant says, and the global ACL
file gives each group its rights with `group-override` (which beats any `user=` entry). A
staff login without the field, e.g. from an older script, sees nothing: fail closed. The
customers' own logins stay owners with Dovecot's default rights.
"""

from __future__ import annotations

import logging
import subprocess
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)
LUA_FILE = "dovecot_passdb.lua"
ACL_FILE = "entrusted-acl"

# The Lua script names the same two groups (a test checks): keep them in step.
READ_ONLY_GROUP = "entrusted-staff-read-only"
READ_WRITE_GROUP = "entrusted-staff-read-write"
# Read-only is list and read, nothing else: no flag (not even \Seen, so reading leaves the
# customer's unread mail unread), no insert, expunge, create or delete. Read-write is every
# right but `a` (changing ACLs).
READ_ONLY_RIGHTS = "lr"
READ_WRITE_RIGHTS = "lrwstipekx"


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


def acl_rules() -> str:
    """The global ACL file: every mailbox (`*`), rights by the group the Lua passdb put the
    staff login in. The owner's rights are not named, so customers keep Dovecot's default
    (all rights) on their own mailboxes."""
    return (
        f"* group-override={READ_ONLY_GROUP} {READ_ONLY_RIGHTS}\n"
        f"* group-override={READ_WRITE_GROUP} {READ_WRITE_RIGHTS}\n"
    )


def acl_snippet(acl_path: str) -> str:
    """The dovecot.conf lines that load the ACL plugin with the global ACL file. The plugin
    is added to `protocol imap` too: a `protocol imap { mail_plugins = ... }` block earlier
    in the configuration would otherwise keep its own list without `acl`."""
    return f"""\
mail_plugins = $mail_plugins acl
protocol imap {{
  mail_plugins = $mail_plugins acl
}}
plugin {{
  acl = vfile:{acl_path}
  acl_globals_only = yes
}}
"""
