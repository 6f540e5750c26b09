"""The worker's periodic jobs as the composition root lists them. Their order is the order the
worker runs them in each round (the disclosure desk adds `disclosures.lift` between the
mailings and the backups, see `build`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from entrusted.adapters.db.mailing_store import SqlMailingStore
from entrusted.adapters.scheduler import Job
from entrusted.bootstrap.actors import WORKER
from entrusted.bootstrap.backups import BACKUP_PURGE_JOB, BACKUP_RUN_JOB, purge_job
from entrusted.bootstrap.ledger_jobs import LEDGER_VERIFY_JOB, _sign, _verify_ledger
from entrusted.bootstrap.mailings import MAILINGS_SEND_JOB, send_announcements
from entrusted.bootstrap.observability import happened

if TYPE_CHECKING:
    from entrusted.bootstrap import Container


def ledger_and_delivery_jobs(c: Container) -> list[Job]:
    """Checkpoint signing, full verification, grant expiry and the outbox."""
    s, consent, outbox = c.settings, c.consent, c.outbox
    return [
        Job("ledger.checkpoint", s.checkpoint_interval_s, lambda: _sign(c)),
        Job(LEDGER_VERIFY_JOB, s.ledger_verify_interval_s, lambda: _verify_ledger(c)),
        Job("grants.expire", s.grants_expire_interval_s, lambda: happened(consent.expire(WORKER))),
        Job("outbox.deliver", s.outbox_interval_s, lambda: happened(outbox.deliver())),
    ]


def mailings_job(c: Container) -> Job:
    """Sending announcements, as often as the outbox is delivered."""
    engine = c.engine
    return Job(
        MAILINGS_SEND_JOB,
        c.settings.outbox_interval_s,
        lambda: send_announcements(c.mailings, SqlMailingStore(engine)),
    )


def backup_jobs(c: Container) -> list[Job]:
    """The nightly backup run and the purge of keys whose 7 days are over (P15, P16)."""
    s = c.settings
    return [
        Job(BACKUP_RUN_JOB, s.backup_interval_s, lambda: str(c.backups.runner.run(WORKER))),
        Job(BACKUP_PURGE_JOB, s.backup_purge_interval_s, lambda: purge_job(c.backups)),
    ]
