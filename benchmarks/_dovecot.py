"""A private Dovecot 2.3 for tests and benchmarks: its own config, base_dir and Maildirs under
a scratch directory, a free 127.0.0.1 port, unprivileged (`nobody` when started as root), the
staff master passdb, Lua script and ACLs being the files `entrusted mail dovecot-config --out`
writes, included from its dovecot.conf; stopped by its PID.

Also: Entrusted's API served by uvicorn in a thread on a free loopback port, and a synthetic
Maildir builder. See docs/mail.md and /work/shared/research/integration.md for the traps
(one-line blocks are rejected; `auth_cache_size = 0`; anvil's per-IP penalty after failures)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entrusted.adapters.mail.dovecot_config import (
    SNIPPET,
    DovecotLayout,
    dovecot_files,
    write_files,
)


def dovecot_binary() -> str | None:
    """The dovecot binary, if Dovecot with the Lua auth module is installed."""
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    lua_module = Path("/usr/lib/dovecot/modules/auth/libauthdb_lua.so")
    return found if found and lua_module.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _run_as() -> tuple[str, str, list[str]]:
    """(user, group, argv prefix): `nobody` through setpriv when root, else ourselves."""
    if os.geteuid() == 0:
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        return "nobody", "nogroup", prefix
    me = pwd.getpwuid(os.geteuid())
    import grp

    return me.pw_name, grp.getgrgid(os.getegid()).gr_name, []


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/run/state
instance_name = entrusted-test-{port}
log_path = {base}/dovecot.log
auth_verbose = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
login_trusted_networks = 127.0.0.0/8
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
mail_location = maildir:{base}/mail/%d/%n/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/etc/users.passwd
}}
# Entrusted's files exactly as `entrusted mail dovecot-config --out` writes them, included
# after the customers' passdb (as Debian's conf.d/ is), which they leave untouched.
!include {snippet}
# Users with a mail location of their own (e.g. mdbox, `add_mdbox_customer`); the rest fall
# through to the static userdb below.
userdb {{
  driver = passwd-file
  args = username_format=%u {base}/etc/users.userdb
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={base}/mail/%d/%n
}}
"""


@dataclass
class PrivateDovecot:
    """A running private Dovecot; `stop()` ends it by PID."""

    base: Path
    port: int
    process: subprocess.Popen[bytes]
    user: str
    prefix: list[str]

    @property
    def mail_root(self) -> Path:
        return self.base / "mail"

    def maildir(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.mail_root / domain / local / "Maildir"

    def add_customer(self, address: str, password: str, stored: str | None = None) -> Path:
        """A passwd-file entry and an empty Maildir owned by the Dovecot user. `stored` is the
        passdb's value for the password, e.g. `{ARGON2ID}$argon2id$...` for a real hash (what a
        hosting provider's customers have); default `{PLAIN}password`."""
        stored = stored or f"{{PLAIN}}{password}"
        with (self.base / "etc" / "users.passwd").open("a", encoding="utf-8") as f:
            f.write(f"{address}:{stored}\n")
        root = self.maildir(address)
        for sub in ("cur", "new", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.give(self.mail_root)
        return root

    def add_mdbox_customer(self, address: str, password: str) -> Path:
        """A customer whose mail is in mdbox under their home (`mail=mdbox:~/mdbox` in the
        userdb): their home, created empty, is returned; Dovecot creates the mdbox itself."""
        home = self.maildir(address).parent
        home.mkdir(parents=True, exist_ok=True)
        uid, gid = pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid
        with (self.base / "etc" / "users.passwd").open("a", encoding="utf-8") as f:
            f.write(f"{address}:{{PLAIN}}{password}\n")
        with (self.base / "etc" / "users.userdb").open("a", encoding="utf-8") as f:
            f.write(f"{address}::{uid}:{gid}::{home}::userdb_mail=mdbox:~/mdbox\n")
        self.give(self.mail_root)
        return home

    def give(self, path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{self.user}:", str(path)], check=True)

    def doveadm(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, "doveadm", "-c", str(self.base / "etc" / "dovecot.conf"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


@contextlib.contextmanager
def private_dovecot(
    gate_url: str, token: str, base: Path | None = None
) -> Iterator[PrivateDovecot]:
    """Start a private Dovecot whose staff passdb asks `gate_url` with `token`, under `base`
    (an empty directory; default: a new temporary one)."""
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError("Dovecot with dovecot-auth-lua is not installed")
    user, group, prefix = _run_as()
    base = base or Path(tempfile.mkdtemp(prefix="entrusted-dovecot-"))
    base.chmod(0o755)
    port = free_port()
    for sub in ("etc", "run", "mail"):
        (base / sub).mkdir(exist_ok=True)
    # The staff passdb, the Lua script, its settings and the ACLs exactly as `entrusted mail
    # dovecot-config --out` writes them (the same function): what ships is what is tested.
    layout = DovecotLayout(gate_url, str(base / "etc"), str(base / "etc" / "token"))
    write_files(base / "etc", dovecot_files(layout))
    (base / "etc" / "token").write_text(token + "\n", encoding="utf-8")
    (base / "etc" / "users.passwd").write_text("", encoding="utf-8")
    (base / "etc" / "users.userdb").write_text("", encoding="utf-8")
    conf = base / "etc" / "dovecot.conf"
    conf.write_text(
        CONFIG.format(base=base, port=port, user=user, group=group, snippet=SNIPPET),
        encoding="utf-8",
    )
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{user}:{group}", str(base)], check=True)
    process = subprocess.Popen(
        [*prefix, binary, "-F", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = PrivateDovecot(base, port, process, user, prefix)
    try:
        try:
            wait_for_port(port)
        except TimeoutError:
            server.stop()
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Dovecot did not start: {err} {server.log()}") from None
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


class ApiServer:
    """Entrusted's API under uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        self._thread.start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def build_maildir(root: Path, messages: int, folders: int) -> None:
    """A synthetic Maildir++: `folders` folders (INBOX and `.Folder<n>`, one named in
    modified UTF-7) sharing `messages` empty message files, 10% of each in `new/`."""
    names = ["", *(f".Folder{i}" for i in range(1, folders - 1)), ".Entw&APw-rfe"][:folders]
    per = messages // folders
    for f_index, folder in enumerate(names):
        path = root / folder if folder else root
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if folder:
            (path / "maildirfolder").touch()
        count = per + (messages % folders if f_index == 0 else 0)
        for i in range(count):
            size = 1000 + (i * 37) % 100000
            base = f"17000{f_index:05d}.M{i}P1.bench,S={size},W={size + size // 40}"
            if i % 10 == 0:
                (path / "new" / base).touch()
            else:
                (path / "cur" / f"{base}:2,S").touch()
