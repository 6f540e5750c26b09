"""The files a hoster drops into an existing Dovecot 2.3 (`entrusted mail dovecot-config`):
a `conf.d` snippet, the Lua passdb script, the script's settings file and the global ACL file.

Why a snippet and a directory of its own: Debian's `dovecot.conf` includes `conf.d/*.conf`,
so `conf.d/90-entrusted.conf` is loaded after the hoster's own files and touches none of
them; the customers' passdb and userdb stay as they are. The snippet adds a *master* passdb,
which Dovecot keeps in a list of its own and asks only for logins with the separator, so its
place after the customers' passdb does not matter (the integration tests include it last,
after theirs). The script, its settings and the ACL file go to `entrusted/` beside
`conf.d/`, never into `conf.d/` itself: the script reads `dovecot_passdb.conf` next to it,
and a `.conf` file in `conf.d/` would be included as Dovecot configuration.

No file holds a secret: the settings name the token file, which the hoster fills with
`entrusted staff service-token mail_hook` (docs/mail.md). So every file is 0644; a file that
did hold one would be written 0600 (`ConfigFile.secret`).

The private Dovecot of the tests (`benchmarks/_dovecot.py`) is configured with exactly these
files, so what ships is what is tested.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from entrusted.adapters.mail.dovecot import (
    ACL_FILE,
    LUA_FILE,
    acl_rules,
    acl_snippet,
    lua_source,
    settings_file,
)
from entrusted.domain.hosts import token_may_travel
from entrusted.errors import Conflict, InvalidInput

SNIPPET = "conf.d/90-entrusted.conf"
OWN_DIR = "entrusted"
LUA = f"{OWN_DIR}/{LUA_FILE}"
LUA_SETTINGS = f"{OWN_DIR}/{LUA_FILE.removesuffix('.lua')}.conf"
ACL = f"{OWN_DIR}/{ACL_FILE}"
TOKEN = f"{OWN_DIR}/mail_hook.token"  # written by the hoster, never by us
# The versions whose configuration syntax these files use. Dovecot 2.4 renamed most of the
# settings used here (passdb and ACL blocks, `dovecot_config_version`); its files are not
# generated until they can be tested against a real 2.4.
SUPPORTED_VERSIONS = ("2.3",)


@dataclass(frozen=True, slots=True)
class DovecotLayout:
    """Where the files will live on the Dovecot host, and what the script asks."""

    hook_url: str
    dovecot_dir: str = "/etc/dovecot"
    token_file: str | None = None  # default: entrusted/mail_hook.token in dovecot_dir
    timeout_ms: int = 3000
    version: str = "2.3"

    def path(self, relative: str) -> str:
        return str(PurePosixPath(self.dovecot_dir) / relative)

    @property
    def token(self) -> str:
        return self.token_file or self.path(TOKEN)


@dataclass(frozen=True, slots=True)
class ConfigFile:
    relative: str  # below the Dovecot configuration directory
    content: str
    secret: bool = False

    @property
    def mode(self) -> int:
        return 0o600 if self.secret else 0o644


def check_layout(layout: DovecotLayout) -> None:
    """Refuse values Dovecot or the script would misread, before anything is written."""
    if layout.version not in SUPPORTED_VERSIONS:
        raise InvalidInput(
            "dovecot_version",
            f"Dovecot {layout.version} is not supported: the files are for "
            f"{', '.join(SUPPORTED_VERSIONS)} (docs/mail.md)",
        )
    if not layout.hook_url.startswith(("http://", "https://")):
        raise InvalidInput("hook_url", "the hook URL must start with http:// or https://")
    if not token_may_travel(layout.hook_url):
        # The script sends the mail_hook token and the password a staff member types.
        raise InvalidInput(
            "hook_url",
            "must be an https:// URL (http:// only to a loopback address: 127.0.0.0/8, ::1, "
            "localhost): the hook's calls carry the mail_hook token and staff passwords; "
            "across hosts, put TLS in front of the hooks listener (docs/deploy.md)",
        )
    for name, value in (
        ("hook_url", layout.hook_url),
        ("dovecot_dir", layout.dovecot_dir),
        ("token_file", layout.token),
    ):
        # One `key = value` line each in the script's settings, one word in Dovecot's `args`.
        if any(c.isspace() for c in value) or not value:
            raise InvalidInput(name, f"{name} must be non-empty and without spaces")
    if not layout.dovecot_dir.startswith("/") or not layout.token.startswith("/"):
        raise InvalidInput("dovecot_dir", "the Dovecot directory and token file must be absolute")
    if not 100 <= layout.timeout_ms <= 60_000:
        raise InvalidInput("timeout_ms", "the hook timeout must be 100 to 60000 ms")


def snippet(layout: DovecotLayout) -> str:
    """`conf.d/90-entrusted.conf`: the staff master passdb and the ACL plugin."""
    return f"""\
# Entrusted's staff-login gate, for Dovecot {layout.version} (`entrusted mail dovecot-config`;
# docs/mail.md). Staff log in as customer-address*staffname with their own password, and only
# under an active consent grant. The customers' passdb and userdb are not touched: this adds
# a master passdb, which Dovecot asks only for logins with the separator.

# A cached OK would outlive a revoked grant: keep Dovecot's auth cache off.
auth_cache_size = 0
auth_master_user_separator = *

passdb {{
  driver = lua
  args = file={layout.path(LUA)} blocking=yes
  master = yes
  result_success = continue
}}

# Read-only grants are enforced by these ACLs: `doveconf -f protocol=imap -h mail_plugins`
# must list acl. Set neither acl_user nor master_user in plugin {{}}.
{acl_snippet(layout.path(ACL))}"""


def dovecot_files(layout: DovecotLayout) -> list[ConfigFile]:
    """Every file to drop in, in the order a reader should look at them."""
    check_layout(layout)
    return [
        ConfigFile(SNIPPET, snippet(layout)),
        ConfigFile(LUA, lua_source()),
        ConfigFile(LUA_SETTINGS, settings_file(layout.hook_url, layout.token, layout.timeout_ms)),
        ConfigFile(ACL, acl_rules()),
    ]


def write_files(out: Path, files: Sequence[ConfigFile], force: bool = False) -> list[Path]:
    """Write `files` below `out` with their modes. Without `force`, an existing file is a
    Conflict and nothing is written (all are checked first)."""
    targets = [(out / f.relative, f) for f in files]
    existing = [str(path) for path, _ in targets if path.exists() or path.is_symlink()]
    if existing and not force:
        raise Conflict(f"{', '.join(existing)} already exist(s); --force to replace")
    written = []
    for path, f in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # replace the link itself, never write through it
        # Open with the final mode: a file holding a secret is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, f.mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f.content)
        path.chmod(f.mode)  # an existing file (--force) keeps its old mode otherwise
        written.append(path)
    return written
