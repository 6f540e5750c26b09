"""Mailbox metadata (P13): what support may see of a mailbox, and nothing about one message.

`MailboxMetadata` holds totals only: the size of the whole mailbox and, per folder, its
name, how many messages it holds and their size. Folder names on disk are IMAP modified
UTF-7 (RFC 3501 section 5.1.3); `decode_folder_name` turns `Entw&APw-rfe` into `Entwürfe`.

    >>> decode_folder_name("Entw&APw-rfe")
    'Entwürfe'
    >>> decode_folder_name("Tom &- Jerry")
    'Tom & Jerry'
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from entrusted.errors import InvalidInput

_VARIABLE = re.compile(r"%([und%])")


@dataclass(frozen=True, slots=True)
class FolderStats:
    """One folder's totals; `unsized` counts messages whose name carried no size (their size
    came from the file system's metadata instead)."""

    name: str
    messages: int
    bytes: int
    vbytes: int
    unsized: int = 0


@dataclass(frozen=True, slots=True)
class MailboxMetadata:
    """The totals of a mailbox: what the rules' `metadata_only` obligation lets through."""

    service_id: str
    folders: tuple[FolderStats, ...]

    @property
    def messages(self) -> int:
        return sum(f.messages for f in self.folders)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.folders)

    @property
    def vbytes(self) -> int:
        return sum(f.vbytes for f in self.folders)


def decode_folder_name(name: str) -> str:
    """IMAP modified UTF-7 to text: `&...-` is modified base64 of UTF-16BE, `&-` is `&`."""
    if "&" not in name:
        return name
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise InvalidInput("folder", "unterminated modified UTF-7 sequence")
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            raw = chunk.replace(",", "/")
            raw += "=" * (-len(raw) % 4)
            try:
                out.append(base64.b64decode(raw, validate=True).decode("utf-16-be"))
            except ValueError:
                raise InvalidInput("folder", "invalid modified UTF-7 sequence") from None
        i = end + 1
    return "".join(out)


def mailbox_root(template: str, address: str) -> str:
    """The mailbox root for `address` from a path template: `%u` the whole address, `%n` its
    local part, `%d` its domain (Dovecot's variables). Parts that could leave the mail
    directory (`/`, a leading dot, NUL) are refused."""
    local, sep, domain = address.partition("@")
    if not sep or not local or not domain:
        raise InvalidInput("address", "is not a mailbox address")
    for part in (local, domain):
        if "/" in part or "\0" in part or part.startswith("."):
            raise InvalidInput("address", "cannot name a mailbox directory")
    values = {"u": address, "n": local, "d": domain, "%": "%"}
    # One pass over the template: a value is inserted once and never scanned again, so a
    # customer who registers `%d@example.org` gets the directory `%d`, not `example.org`.
    return _VARIABLE.sub(lambda m: values[m.group(1)], template)
