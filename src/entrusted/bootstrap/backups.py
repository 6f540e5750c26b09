"""The backup area as the composition root wires it: the run, the sysadmins' and customers'
access, the 7-day purge, and the worker's two jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from entrusted.adapters.backup_directory import DirectoryBackupStore
from entrusted.adapters.backup_tar import TarZstdPacker
from entrusted.adapters.db.backup_store import SqlBackupCatalog
from entrusted.bootstrap.actors import WORKER
from entrusted.errors import NotFound, Unavailable
from entrusted.services.backup_access import BackupAccess
from entrusted.services.backup_purge import BackupPurge
from entrusted.services.backup_sources import RegistrySources, Roots
from entrusted.services.backups import BackupParts, BackupRun, Target
from entrusted.services.ports import ConsentUnitOfWork
from entrusted.services.registry import RegistryParts

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

BACKUP_RUN_JOB = "backups.run"
BACKUP_PURGE_JOB = "backups.purge"


@dataclass(frozen=True, slots=True)
class Backups:
    runner: BackupRun
    access: BackupAccess
    purge: BackupPurge


def build_backups(
    c: Container, registry: RegistryParts, consent_uow: Callable[[], ConsentUnitOfWork]
) -> Backups:
    s = c.settings
    catalog = SqlBackupCatalog(c.engine)
    parts = BackupParts(
        catalog=catalog,
        store=DirectoryBackupStore(s.effective_backup_dir),
        packer=TarZstdPacker(),
        gate=c.gate,
        keyring=lambda: c.registry_keys().keyring,
        clock=c.clock,
    )

    def case_owner(case_id: str) -> str | None:
        with consent_uow() as uow:
            case = uow.cases.get(case_id)
        return None if case is None else case.customer_id

    sources = RegistrySources(
        registry,
        catalog.customer_ids,
        Roots(s.mail_root_template, s.ftp_root_template, s.web_root_template),
    )
    runner = BackupRun(parts, sources, s.backup_parallel)

    def live_root(customer_id: str, service_id: str) -> str | None:
        """The service's live directory, from the same templates a run reads."""
        try:
            targets = sources.for_customer(customer_id)
        except NotFound:
            return None
        return next((t.root for t in targets if t.service_id == service_id), None)

    def snapshot(target: Target, why: str) -> str:
        # Taken by the service, as every backup is (the rule's 7-day obligation applies).
        return runner.snapshot(WORKER, target, why)

    return Backups(
        runner=runner,
        access=BackupAccess(parts, s.effective_restore_root, case_owner, live_root, snapshot),
        purge=BackupPurge(parts),
    )


def purge_job(backups: Backups) -> str:
    """The worker's purge: destroy what is due, then fail loudly (the job's state, /healthz's
    job figures and the log) if any day is still overdue."""
    report = backups.purge.purge(WORKER)
    overdue = backups.purge.status().overdue
    if overdue:
        days = ", ".join(k.day.isoformat() for k in overdue)
        raise Unavailable(f"backup destruction overdue for {days}")
    return str(report)
