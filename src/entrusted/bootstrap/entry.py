"""Staff entry to customers' services as the composition root wires it: grant entry (which
ends live IMAP sessions through doveadm when configured), the mail and FTP login gates, the
mailbox and FTP space monitors, and the end of a disabled staff member's grants."""

from __future__ import annotations

from dataclasses import dataclass

from entrusted.adapters.ftp.space_sizes import FileSystemSpaceReader
from entrusted.adapters.mail.dovecot import DoveadmSessions
from entrusted.bootstrap.consent import Consent
from entrusted.bootstrap.mail_backends import mailbox_reader
from entrusted.bootstrap.registry import Registry
from entrusted.bootstrap.wiring import Wiring
from entrusted.domain.policy import ResourceKind
from entrusted.services.events import EventBus
from entrusted.services.ftp_login import FtpLoginService
from entrusted.services.ftp_password import FtpPasswordService
from entrusted.services.ftp_space_monitor import FtpSpaceMonitor
from entrusted.services.grant_entry import GrantEntry
from entrusted.services.mail_login import MailboxSessions, MailLoginService
from entrusted.services.mailbox_monitor import MailboxMonitor
from entrusted.services.staff import LoginLimits, StaffService
from entrusted.services.staff_access import EndStaffGrants


@dataclass(frozen=True, slots=True)
class Entry:
    grant_entry: GrantEntry
    mail_login: MailLoginService
    ftp_login: FtpLoginService
    mailbox_monitor: MailboxMonitor
    ftp_passwords: FtpPasswordService
    ftp_space_monitor: FtpSpaceMonitor


def build_entry(
    w: Wiring,
    registry: Registry,
    consent: Consent,
    staff: StaffService,
    limits: LoginLimits,
    events: EventBus,
) -> Entry:
    settings, parts = w.settings, registry.parts
    sessions = (
        DoveadmSessions(settings.doveadm_path, settings.doveadm_config)
        if settings.doveadm_path
        else None
    )
    grant_entry = GrantEntry(consent.parts, staff, consent.grants)
    grant_entry.subscribe(events)
    if sessions is not None:
        grant_entry.serve(ResourceKind.MAILBOX_CONTENT, MailboxSessions(parts, sessions))
    mail_login = MailLoginService(parts, grant_entry)
    ftp_login = FtpLoginService(
        parts, grant_entry, limits, settings.ftp_root_template, registry.grant_steps
    )
    EndStaffGrants(consent.grants, w.consent_uow).subscribe(events)
    return Entry(
        grant_entry=grant_entry,
        mail_login=mail_login,
        ftp_login=ftp_login,
        mailbox_monitor=MailboxMonitor(parts, mailbox_reader(settings)),
        ftp_passwords=FtpPasswordService(parts),
        ftp_space_monitor=FtpSpaceMonitor(
            parts, FileSystemSpaceReader(), settings.ftp_root_template, registry.lookup
        ),
    )
