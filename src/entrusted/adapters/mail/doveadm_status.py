"""Mailbox metadata from Dovecot itself (P13): `doveadm mailbox status` with the counts and
sizes of each folder, and nothing else; any mailbox format (Maildir, mdbox, sdbox), warm from
Dovecot's own index.

`doveadm mailbox status` knows more than P13 lets support see: `unseen`, `recent`, the
`guid`s, `uidnext`, `highestmodseq`, `firstsaved` (the date of the first message saved) and
`all`, which includes them. So the request is built from one constant, `REQUESTED`, and checked
against `METADATA_ONLY` just before the process starts: a field beyond the counts and sizes,
planted by a later change, stops the request (Unavailable, fail closed) instead of reaching
Dovecot. The answer is read by column name and only `mailbox`, `messages` and `vsize` are
kept; any other column is refused too.

```python
reader = DoveadmMailboxes(Doveadm("/usr/bin/doveadm", Path("/etc/dovecot/dovecot.conf")))
reader.folders("info@example.org")   # [FolderStats("INBOX", 12, 48210, 48210), ...]
```
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from entrusted.domain.mail import FolderStats
from entrusted.errors import InvalidInput, Unavailable

INBOX = "INBOX"
# What P13 lets support see of a folder: how many messages it holds and their size. Dovecot
# names the size `vsize` (RFC822.SIZE summed from its index); it has no physical-size field.
METADATA_ONLY: Final = frozenset({"messages", "vsize"})
# What the adapter asks for; a test asserts the argument list built from it.
REQUESTED: tuple[str, ...] = ("messages", "vsize")
_NAME = "mailbox"  # the column doveadm adds for a mask such as "*"
EX_NOUSER = 67  # sysexits: doveadm's answer for a user its userdb does not know


@dataclass(frozen=True, slots=True)
class Doveadm:
    """How to run doveadm: the binary, the `dovecot.conf` it reads (`-c`), a time limit."""

    binary: str
    config: Path | None = None
    timeout_s: float = 30.0

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *(["-c", str(self.config)] if self.config else []), *args]

    def run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        """Run doveadm; a missing binary, a time-out or a signal is Unavailable (the caller
        reads the exit status). The message names no user: it may reach a log."""
        try:
            return subprocess.run(  # noqa: S603 - fixed argv, no shell; the user is one argument
                args, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except FileNotFoundError:
            raise Unavailable(f"doveadm not found at {self.binary}") from None
        except PermissionError:
            raise Unavailable(f"doveadm at {self.binary} is not executable") from None
        except subprocess.TimeoutExpired:
            raise Unavailable(f"doveadm did not answer within {self.timeout_s:g} s") from None


def doveadm_user(address: str) -> str:
    """`address` as doveadm's `-u` or `user` argument: doveadm reads `*` and `?` in it as
    wildcards and would run for every matching user, so an address holding one is refused."""
    if not address or "*" in address or "?" in address or address.startswith("-"):
        raise InvalidInput("address", "cannot be looked up in Dovecot")
    return address


def status_argv(doveadm: Doveadm, user: str, fields: Sequence[str] | None = None) -> list[str]:
    """`doveadm [-c CONFIG] -f tab mailbox status -u USER "messages vsize" "*"`: every folder's
    count and size. Any field outside `METADATA_ONLY` is refused here, before a process runs."""
    wanted = tuple(REQUESTED if fields is None else fields)
    planted = sorted(set(wanted) - METADATA_ONLY)
    if planted or not wanted:
        raise Unavailable(
            f"doveadm mailbox status refused: field(s) {', '.join(planted) or '(none)'} are "
            "not mailbox metadata support may see (P13)"
        )
    return doveadm.argv(
        "-f", "tab", "mailbox", "status", "-u", doveadm_user(user), " ".join(wanted), "*"
    )


def failure(returncode: int, what: str) -> Unavailable:
    """doveadm's stderr is left out: it names the user, paths holding the address, folders."""
    return Unavailable(
        f"doveadm {what} failed with status {returncode} (run it by hand to see why)"
    )


def parse_status(stdout: str) -> list[FolderStats]:
    """The folders of a `-f tab` answer, INBOX first, then by name. The header must be the
    mailbox column and allowed fields only: a column beyond them is refused, not dropped."""
    header, *rows = stdout.splitlines() or [""]
    columns = header.split("\t")
    if _NAME not in columns or not set(columns) - {_NAME} <= METADATA_ONLY:
        raise Unavailable("doveadm mailbox status answered with unexpected columns")
    at = {name: columns.index(name) for name in columns}
    found: list[FolderStats] = []
    for row in rows:
        if not row.strip():
            continue
        cells = row.split("\t")
        if len(cells) != len(columns):
            raise Unavailable("doveadm mailbox status answered a malformed row")
        try:
            messages, vsize = int(cells[at["messages"]]), int(cells[at["vsize"]])
        except (KeyError, ValueError):
            raise Unavailable("doveadm mailbox status answered a malformed row") from None
        # Dovecot knows the virtual size only: it stands for the size too.
        found.append(FolderStats(cells[at[_NAME]], messages, vsize, vsize))
    return sorted(found, key=lambda f: (f.name != INBOX, f.name))


class DoveadmMailboxes:
    """The `MailboxReader` that asks Dovecot: one `doveadm mailbox status` per look."""

    def __init__(self, doveadm: Doveadm) -> None:
        self._doveadm = doveadm

    def folders(self, address: str) -> list[FolderStats] | None:
        """Every folder's count and size; None when Dovecot's userdb does not know the user."""
        done = self._doveadm.run(status_argv(self._doveadm, address))
        if done.returncode == EX_NOUSER:
            return None
        if done.returncode != 0:
            raise failure(done.returncode, "mailbox status")
        return parse_status(done.stdout)
