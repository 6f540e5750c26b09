"""The monitor's mailbox reader as the settings choose it (P13): the Maildir on this machine,
found by the path template or Dovecot's userdb, or Dovecot itself through `doveadm mailbox
status`. A chosen backend that cannot answer is Unavailable at the look; there is no fallback
from one backend to the other, so what support sees always comes from the configured source."""

from __future__ import annotations

from entrusted.adapters.mail.doveadm_status import Doveadm, DoveadmMailboxes
from entrusted.adapters.mail.mail_location import (
    Locate,
    MaildirMailboxes,
    TemplateLocation,
    UserdbLocation,
)
from entrusted.config import Settings
from entrusted.services.ports import MailboxReader


def doveadm(settings: Settings) -> Doveadm:
    """doveadm as configured; unset `doveadm_path`: `doveadm` on PATH (a missing binary is
    Unavailable when first used, not a reason to read the Maildir instead)."""
    return Doveadm(settings.doveadm_path or "doveadm", settings.doveadm_config)


def mailbox_reader(settings: Settings) -> MailboxReader:
    """`mail_metadata_backend`: `doveadm` or `maildir` (located by `mail_location_source`)."""
    if settings.mail_metadata_backend == "doveadm":
        return DoveadmMailboxes(doveadm(settings))
    locate: Locate = (
        UserdbLocation(doveadm(settings), settings.mail_userdb_maildir)
        if settings.mail_location_source == "userdb"
        else TemplateLocation(settings.mail_root_template)
    )
    return MaildirMailboxes(locate)
