"""Backups as values (P15, P16): what an archive is, which day's key seals it, and when that
key, and with it every archive of the day, must be destroyed.

One key per UTC day wraps the data key of every archive taken that day. Destroying the day's
key destroys the day's backups (crypto-shredding): the archive bytes may survive on a disk or
a replica, but nothing can decrypt them any more. A day's key is due for destruction at the
start of the seventh day after it (`destroy_after`), so no archive outlives one week; the
cancellation of a contract changes nothing (P16: no exception).

```python
day = backup_day(datetime(2026, 11, 27, 12, tzinfo=UTC))   # date(2026, 11, 27)
destroy_after(day)                                          # 2026-12-04 00:00 UTC
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from entrusted.errors import InvalidInput

RETENTION = timedelta(days=7)
RECORD = "record"  # the source name of a customer's own record (no hosted service id)
_SITE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_VARIABLE = re.compile(r"%([ni%])")


class Source(StrEnum):
    """What an archive holds: one hosted service's files, or the customer's record."""

    MAILBOX = "mailbox"
    FTP_SPACE = "ftp_space"
    WEBSITE = "website"
    RECORD = "record"


class ArchiveStatus(StrEnum):
    WRITING = "writing"  # the row exists so a purge finds it; the bytes are not complete yet
    COMPLETE = "complete"  # sealed, stored and listed
    FAILED = "failed"  # the write failed (full disk, vanished directory); never listed
    DESTROYED = "destroyed"  # its day's key is gone: crypto-shredded


@dataclass(frozen=True, slots=True)
class Archive:
    """One archive as catalogued; its data key is wrapped by its day's key, not stored here."""

    id: str
    day: date
    customer_id: str
    source: Source
    service_id: str | None
    status: ArchiveStatus
    created_at: datetime
    destroy_after: datetime
    size: int = 0  # stored (encrypted) bytes
    chunks: int = 0
    sha256: str | None = None  # of the stored bytes, for an integrity check without the key
    destroyed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayKey:
    """The public facts of a day's key: its id and a commitment to it (SHA-256 of the key
    under a label), which the ledger names at creation and at destruction."""

    day: date
    key_id: str
    commitment: str
    created_at: datetime
    destroy_after: datetime
    destroyed_at: datetime | None = None
    evidence_recorded: bool = False


def backup_day(now: datetime) -> date:
    """The UTC day whose key seals an archive taken at `now`."""
    return now.astimezone(UTC).date()


def destroy_after(day: date) -> datetime:
    """When the day's key (and every archive it seals) must be gone: 7 days after the start
    of the day, so an archive taken late on the day lives a little less than a week, never
    more."""
    return datetime.combine(day, time(0), tzinfo=UTC) + RETENTION


def is_due(key: DayKey, now: datetime) -> bool:
    return key.destroyed_at is None and now >= key.destroy_after


def site_root(template: str, name: str, service_id: str) -> str:
    """The directory of a web site from a path template: `%n` its host name, `%i` its service
    id, `%%` a percent sign. A host name is lowercase letters, digits, dots and hyphens, so it
    cannot name a parent directory or a subdirectory."""
    clean = name.strip().lower()
    if not _SITE_NAME.fullmatch(clean) or ".." in clean:
        raise InvalidInput("site", "is not a host name")
    values = {"n": clean, "i": service_id, "%": "%"}
    return _VARIABLE.sub(lambda m: values[m.group(1)], template)
