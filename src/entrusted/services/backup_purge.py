"""Destruction of backups after one week (P16), by crypto-shredding, with evidence.

Each UTC day's key wraps the data keys of that day's archives. Once the day is seven days old
(`domain.backups.destroy_after`), the purge deletes the key row and every wrapped data key of
the day in one transaction, then deletes the archive files, then ledgers the destruction: the
key's id and commitment and each archive id (one entry per archive, filed under its customer,
so each customer's ledger shows it). A cancelled contract gets no exception: its archives are
in the same days.

Crash safety: the key goes first, in one commit; a rerun finds the day destroyed but its
evidence not yet ledgered, deletes any file left and ledgers it then. No key outlives its day
by more than one failed run, and `status` names any overdue day (the worker's job fails loudly).

```python
report = purge.purge(WORKER)          # PurgeReport(days=[...], archives=14)
purge.status().overdue                # [] when every key due is gone
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from entrusted.domain.backups import ArchiveStatus, DayKey, is_due
from entrusted.domain.policy import Action, Actor
from entrusted.services.backups import BackupParts, backup_resource
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome


@dataclass(frozen=True, slots=True)
class PurgeReport:
    days: list[date] = field(default_factory=list)
    archives: int = 0

    def __str__(self) -> str:
        listed = ", ".join(d.isoformat() for d in self.days) or "none due"
        return f"day keys destroyed: {listed}; {self.archives} archives deleted"


@dataclass(frozen=True, slots=True)
class BackupStatus:
    live_archives: int
    oldest_live: datetime | None  # when the oldest restorable archive was taken
    live_days: list[DayKey]
    overdue: list[DayKey]  # due for destruction, or destroyed without evidence yet


class BackupPurge:
    def __init__(self, parts: BackupParts) -> None:
        self._p = parts

    def purge(self, actor: Actor) -> PurgeReport:
        """Destroy every day key whose week is over (and finish any destruction a crash
        interrupted); each destruction decided by the gate and ledgered after it committed."""
        now = self._p.clock()
        days: list[date] = []
        archives = 0
        for key in self._p.catalog.days():
            if is_due(key, now) or (key.destroyed_at is not None and not key.evidence_recorded):
                archives += self._destroy(actor, key, now)
                days.append(key.day)
        return PurgeReport(days, archives)

    def _destroy(self, actor: Actor, key: DayKey, now: datetime) -> int:
        resource = backup_resource(f"day/{key.day.isoformat()}", None)
        context = AccessContext(note="7-day retention")
        self._p.gate.decide(actor, Action.DESTROY, resource, context)
        destroyed_at = key.destroyed_at or now
        if key.destroyed_at is None:
            self._p.catalog.destroy_day(key.day, now)  # the key row is gone once this commits
        archives = self._p.catalog.archives(day=key.day)
        for archive in archives:
            self._p.store.delete(archive.id)
        self._p.outcomes.record(
            actor,
            Action.DESTROY,
            resource,
            Outcome.BACKUP_KEY_DESTROYED,
            f"day key {key.key_id} of {key.day.isoformat()} (commitment {key.commitment}) "
            f"destroyed at {destroyed_at.isoformat()}, due {key.destroy_after.isoformat()}; "
            f"{len(archives)} archives shredded with it",
            context,
        )
        for archive in archives:
            self._p.outcomes.record(
                actor,
                Action.DESTROY,
                backup_resource(archive.id, archive.customer_id),
                Outcome.BACKUP_DESTROYED,
                f"{archive.source.value} archive taken {archive.created_at.isoformat()} "
                f"destroyed with day key {key.key_id} (commitment {key.commitment[:16]}...) "
                f"and its file deleted",
                context,
            )
        self._p.catalog.mark_evidence(key.day)
        return len(archives)

    def status(self) -> BackupStatus:
        """The oldest live backup and any overdue destruction (for the CLI and the worker)."""
        now = self._p.clock()
        days = self._p.catalog.days()
        live = [a for a in self._p.catalog.archives() if a.status is ArchiveStatus.COMPLETE]
        return BackupStatus(
            live_archives=len(live),
            oldest_live=min((a.created_at for a in live), default=None),
            live_days=[k for k in days if k.destroyed_at is None],
            overdue=[
                k
                for k in days
                if is_due(k, now) or (k.destroyed_at is not None and not k.evidence_recorded)
            ],
        )
