"""The message transports the operator chose (never an in-memory one outside tests)."""

from __future__ import annotations

from entrusted.adapters.directory_transport import DirectoryMailer, DirectorySms
from entrusted.adapters.mail_templates import JinjaMailTemplates
from entrusted.adapters.sms import HttpSmsGateway
from entrusted.adapters.smtp import SmtpMailer
from entrusted.config import Settings
from entrusted.services.messaging import MailSender, NoMailTransport, NoSmsTransport, SmsSender


def _messaging(settings: Settings) -> tuple[MailSender, SmsSender]:
    """The transports the operator chose: the SMTP relay or the `directory` transport for
    e-mail, the HTTP gateway or the `directory` transport for SMS. Without one, a sender that
    fails every message with what to configure (never an in-memory one: that is for tests)."""
    folder = settings.effective_message_dir
    mailer: MailSender = NoMailTransport()
    if settings.mail_transport == "directory":
        mailer = DirectoryMailer(folder / "mail", settings.smtp_sender)
    elif settings.smtp_host:
        mailer = SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_sender,
        )
    sms: SmsSender = NoSmsTransport()
    if settings.sms_transport == "directory":
        sms = DirectorySms(folder / "sms")
    elif settings.sms_gateway_url:
        sms = HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token or "")
    return mailer, sms


def mail_templates(settings: Settings) -> JinjaMailTemplates:
    """How every mail to a customer is written: the provider's name, and the language and
    time zone of a customer whose record names none."""
    return JinjaMailTemplates(
        settings.provider_name, settings.default_language, settings.default_time_zone
    )
