"""Settings of what reaches customers: e-mail and SMS transports, the outbox, password
links and identification, support look-up limits, and consent requests and grants."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from entrusted.domain.registry import clean_language, clean_time_zone
from entrusted.errors import InvalidInput


class MessageSettings(BaseModel):
    """SMTP relay, SMS gateway, their directory stand-ins and the outbox."""

    smtp_host: str | None = Field(
        default=None,
        description="SMTP relay for codes, receipts, notices and password links (with "
        "mail_transport `smtp`); unset: every e-mail fails, and `serve` and `worker` refuse "
        "to start.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP relay port.")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS with the SMTP relay.")
    smtp_username: str | None = Field(default=None, description="SMTP relay user name.")
    smtp_password: str | None = Field(default=None, repr=False, description="SMTP relay password.")
    smtp_sender: str = Field(
        default="Entrusted <noreply@entrusted.example>",
        description="From address of messages to customers.",
    )
    provider_name: str = Field(
        default="Example Hosting",
        min_length=1,
        max_length=100,
        description="The hosting provider's name, as mails and pages to customers show it.",
    )
    default_language: str = Field(
        default="en",
        description="Language of mails to a customer who chose none: en, fr, de or it.",
    )
    default_time_zone: str = Field(
        default="Europe/Zurich",
        description="IANA time zone in which mails show times to a customer who chose none.",
    )

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        try:
            return clean_language(value, "default_language")
        except InvalidInput as exc:  # pydantic reports ValueErrors, naming the setting
            raise ValueError(exc.message) from None

    @field_validator("default_time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            return clean_time_zone(value, "default_time_zone")
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
    sms_gateway_url: str | None = Field(
        default=None,
        description="HTTP SMS gateway for one-time codes to mobiles (with sms_transport "
        "`gateway`); unset: every SMS fails, and `serve` and `worker` refuse to start.",
    )
    sms_gateway_token: str | None = Field(
        default=None, repr=False, description="Bearer token of the SMS gateway."
    )
    # --- messages: transports and the outbox (services/outbox.py) ---------------------------
    mail_transport: Literal["smtp", "directory"] = Field(
        default="smtp",
        description="`smtp`: the relay in smtp_host; `directory`: write each e-mail as an "
        "`.eml` file under message_dir (a demo or a test machine: nothing leaves it).",
    )
    sms_transport: Literal["gateway", "directory"] = Field(
        default="gateway",
        description="`gateway`: the HTTP gateway in sms_gateway_url; `directory`: write each "
        "text as a `.json` file under message_dir.",
    )
    message_dir: Path | None = Field(
        default=None,
        description="Where the directory transports write; default `outgoing` in the data dir.",
    )
    outbox_interval_s: float = Field(
        default=10.0, gt=0, description="How often the worker delivers queued notices."
    )
    outbox_retry_s: float = Field(
        default=30.0,
        gt=0,
        description="Wait before the first retry of a notice; doubled after each failure, "
        "at most one hour.",
    )
    outbox_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts before a notice is marked failed."
    )
    outbox_retention_s: int = Field(
        default=7 * 86400,
        ge=3600,
        le=366 * 86400,
        description="How long sent and void notices stay in the outbox before the worker "
        "deletes them (failed and pending ones stay).",
    )


class CustomerSettings(BaseModel):
    """Password links, identification codes, support look-ups, URLs."""

    password_link_max_per_hour: int = Field(
        default=3, ge=1, le=100, description="Password links one address may ask for per hour."
    )
    identification_code_ttl_s: int = Field(
        default=600, ge=60, le=3600, description="How long a one-time identification code lasts."
    )
    identification_max_attempts: int = Field(
        default=5, ge=1, le=20, description="Wrong codes allowed before an identification fails."
    )
    identification_codes_per_hour: int = Field(
        default=5,
        ge=1,
        le=100,
        description="One-time codes sent to one customer within an hour, by all staff together.",
    )
    identification_valid_s: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description="How long a successful identification lets support act for the caller.",
    )
    support_lookups_per_minute: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Customer look-ups (find, summary) one staff member may make per minute; "
        "beyond, 429 and a ledgered refusal.",
    )
    support_lookup_alert_per_hour: int = Field(
        default=60,
        ge=1,
        le=100000,
        description="Each this many look-ups by one staff member within an hour ledger an "
        "alert entry (registry.lookup-volume-alert).",
    )
    password_link_ttl_s: int = Field(
        default=172800, ge=600, description="How long a password link e-mailed to a customer works."
    )
    email_change_ttl_s: int = Field(
        default=86400,
        ge=600,
        description="How long the link confirming a new contact e-mail address works.",
    )
    portal_url: str = Field(
        default="http://127.0.0.1:8000/portal",
        description="Base URL of the customer portal, used in password links.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL at which the API is reached from outside; mailings' one-click "
        "unsubscribe links point to `<public_url>/v1/mailings/unsubscribe`.",
    )


class ConsentSettings(BaseModel):
    """Access requests and consent grants."""

    access_request_ttl_s: int = Field(
        default=43200,
        ge=300,
        le=604800,
        description="How long an unanswered access request waits for the customer.",
    )
    grant_max_duration_s: int = Field(
        default=28800,
        ge=300,
        le=604800,
        description="The backstop: no consent grant outlives this, even on an open case.",
    )
    grant_max_sessions: int = Field(
        default=3, ge=1, le=20, description="The most sessions one grant may allow (default 1)."
    )
    grants_expire_interval_s: float = Field(
        default=60.0, gt=0, description="How often the worker runs the grants.expire job."
    )
