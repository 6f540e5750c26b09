"""Settings: read once, by the composition root, from a TOML file and `ENTRUSTED_*` variables.

Unknown keys are errors rather than silently ignored: a typo in a privacy system's
configuration (say `rule_file` for `rules_file`) must not quietly fall back to a default.
Secrets (database passwords, key material) are never part of `repr()` or log output; use
`Settings.describe()` for anything shown to a person.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from entrusted.errors import InvalidInput

CONFIG_ENV = "ENTRUSTED_CONFIG"
SECRET_SETTINGS = frozenset({"master_key", "index_key", "smtp_password", "sms_gateway_token"})


class Settings(BaseSettings):
    """Every knob of an Entrusted installation. Environment variables use the `ENTRUSTED_`
    prefix (`ENTRUSTED_DATA_DIR=/srv/entrusted`); a TOML file given by `--config` or
    `ENTRUSTED_CONFIG` holds the same keys without the prefix."""

    model_config = SettingsConfigDict(env_prefix="ENTRUSTED_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path("var"), description="Where the database, keys and exports live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file `entrusted.db` in the data directory.",
        repr=False,
    )
    bind_host: str = Field(default="127.0.0.1", description="Address the API server listens on.")
    bind_port: int = Field(
        default=8000, ge=1, le=65535, description="Port the API server listens on."
    )
    rules_file: Path | None = Field(
        default=None, description="Policy rules file (YAML); default is the shipped policy."
    )
    ledger_origin: str = Field(
        default="entrusted.example/ledger",
        description="Origin line of signed ledger checkpoints (C2SP tlog-checkpoint).",
    )
    ledger_key_file: Path | None = Field(
        default=None,
        description="Ed25519 checkpoint signing key; default `ledger.key` in the data dir.",
    )
    checkpoint_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often the worker signs a checkpoint while the log grows.",
    )
    checkpoint_idle_resign_s: float = Field(
        default=600.0, gt=0, description="Re-sign an unchanged checkpoint at least this often."
    )
    ledger_verify_interval_s: float = Field(
        default=86_400.0,
        gt=0,
        description="How often the worker verifies the whole ledger (entries, tiles, checkpoints).",
    )
    # --- witnesses (services/witness_submit.py) ---
    witnesses: tuple[str, ...] = Field(
        default=(),
        description="Witnesses each new checkpoint is submitted to, each as `<URL> <vkey>` "
        "(C2SP tlog-witness submission prefix and the witness's cosignature/v1 verifier key).",
    )
    witness_quorum: int = Field(
        default=0,
        ge=0,
        description="How many of `witnesses` must cosign a checkpoint (k of n) for "
        "`verify-receipt` and `ledger monitor` given the same witness keys.",
    )
    login_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins per account in the window before lock-out."
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed logins per client address in the window before lock-out.",
    )
    login_window_s: int = Field(
        default=900, ge=1, description="Rate-limit window for failed logins."
    )
    token_ttl_days: int = Field(
        default=90, ge=1, le=3650, description="Default API token lifetime."
    )
    token_max_ttl_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Longest lifetime of a staff member's personal API token, in days.",
    )
    staff_totp_required: bool = Field(
        default=True,
        description="Staff must have a TOTP second factor to log in and to mint tokens.",
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING or ERROR.")
    master_key_file: Path | None = Field(
        default=None,
        description="Master key (KEK) wrapping customers' data keys; default `master.key` in "
        "the data dir.",
    )
    master_key: str | None = Field(
        default=None,
        repr=False,
        description="The master key as base64 of 32 bytes; when set, master_key_file is unused.",
    )
    previous_master_key_files: tuple[Path, ...] = Field(
        default=(),
        description="Old master keys, kept only to read data keys until `keys rotate` is done.",
    )
    index_key_file: Path | None = Field(
        default=None,
        description="Blind-index key (HMAC) for e-mail and phone lookups; default `index.key` "
        "in the data dir.",
    )
    index_key: str | None = Field(
        default=None,
        repr=False,
        description="The blind-index key as base64 of 32 bytes; when set, index_key_file is "
        "unused.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP relay for codes, receipts, notices and password links (with "
        "mail_transport `smtp`); unset: every e-mail fails, and `serve` and `worker` refuse "
        "to start.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP relay port.")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS with the SMTP relay.")
    smtp_username: str | None = Field(default=None, description="SMTP relay user name.")
    smtp_password: str | None = Field(
        default=None, repr=False, description="SMTP relay password."
    )
    smtp_sender: str = Field(
        default="Entrusted <noreply@entrusted.example>",
        description="From address of messages to customers.",
    )
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

    mail_root_template: str = Field(
        default="/srv/mail/%d/%n/Maildir",
        description="Where a mailbox's Maildir is: %d its domain, %n its local part, %u the "
        "whole address (Dovecot's variables).",
    )
    doveadm_path: str | None = Field(
        default=None,
        description="The doveadm binary that ends live IMAP sessions when a grant ends "
        "(`doveadm kick`); unset: sessions end at their next login check only. The metadata "
        "monitor's doveadm and userdb look-ups use it too (unset there: `doveadm` on PATH).",
    )
    doveadm_config: Path | None = Field(
        default=None, description="dovecot.conf for doveadm (`-c`); unset: doveadm's default."
    )
    # --- mailbox metadata from Dovecot (issue 17 item 2, P13) ---
    mail_metadata_backend: Literal["maildir", "doveadm"] = Field(
        default="maildir",
        description="Where the monitor reads a mailbox's totals: `maildir` (directory "
        "listings of a local Maildir++) or `doveadm` (`doveadm mailbox status messages "
        "vsize`, any mailbox format).",
    )
    mail_location_source: Literal["template", "userdb"] = Field(
        default="template",
        description="How the `maildir` backend finds a Maildir: `mail_root_template`, or "
        "`userdb`: `<home>/<mail_userdb_maildir>` with the home from `doveadm user -f home`.",
    )
    mail_userdb_maildir: str = Field(
        default="Maildir",
        min_length=1,
        description="The Maildir's path inside the userdb home (`mail_location = "
        "maildir:~/Maildir`), for `mail_location_source = userdb`.",
    )
    mail_password_cache_s: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="How long a verified staff password is remembered (as a keyed digest, in "
        "memory) for IMAP logins; 0: argon2 on every login. Grants are checked every time.",
    )
    # --- the FTP(S) backup space (issue 14, P9) ---
    ftp_bind_host: str = Field(
        default="127.0.0.1", description="Address the FTPS server (`entrusted ftp serve`) uses."
    )
    ftp_bind_port: int = Field(default=2121, ge=1, le=65535, description="Its control port.")
    ftp_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate (chain) of the FTPS server; default `ftp.crt` in the data "
        "dir (`entrusted ftp selfsigned` makes one for testing).",
    )
    ftp_key_file: Path | None = Field(
        default=None, description="Its PEM private key; default `ftp.key` in the data dir."
    )
    ftp_passive_ports: str = Field(
        default="60000-60099",
        pattern=r"^[0-9]{1,5}-[0-9]{1,5}$",
        description="Passive data ports, `low-high` (open them in the firewall).",
    )
    ftp_root_template: str = Field(
        default="/srv/ftp/%n",
        description="Where an FTP space's files are: %n its account name, %i its service id.",
    )
    ftp_max_login_attempts: int = Field(
        default=3, ge=1, le=20, description="Failed logins on one connection before it is cut."
    )
    ftp_auth_failed_delay_s: float = Field(
        default=2.0, ge=0, le=30, description="Delay before answering a failed FTP login."
    )
    ftp_max_connections_per_address: int = Field(
        default=10, ge=1, description="Simultaneous FTP connections from one client address."
    )
    ftp_session_check_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the FTP server closes staff sessions whose grant has ended "
        "elsewhere (their next command is refused at once either way).",
    )
    ftp_download_kib_s: int = Field(
        default=0, ge=0, description="Download rate per FTP transfer in KiB/s; 0 for no limit."
    )
    ftp_upload_kib_s: int = Field(
        default=0, ge=0, description="Upload rate per FTP transfer in KiB/s; 0 for no limit."
    )
    ftp_enabled: bool = Field(
        default=False,
        description="`entrusted serve` also runs the FTPS server, in-process, in a thread.",
    )
    ftp_gate_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="The API's base URL when the FTPS server runs on another host: "
        "`entrusted ftp serve` then asks the gate over HTTP (`/v1/ftp/...`); unset: in-process.",
    )
    ftp_gate_token_file: Path | None = Field(
        default=None,
        description="File holding the `ftp_server` service token for `ftp_gate_url` (0600 or "
        "0640, nothing else in it).",
    )
    ftp_gate_timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Timeout of each call to the gate over HTTP."
    )
    ftp_gate_grace_s: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="With the gate unreachable, how long an open customer FTP session goes on "
        "on the last good answer (staff sessions: none).",
    )
    # --- backups (issue 15, P15, P16) ---
    web_root_template: str = Field(
        default="/srv/www/%n",
        description="Where a web site's files are: %n its host name, %i its service id.",
    )
    backup_dir: Path | None = Field(
        default=None,
        description="Directory of the sealed backup archives (0700, files 0600); default "
        "`backups` in the data dir.",
    )
    evidence_test_manifest: Path | None = Field(
        default=None,
        description="The test run manifest `entrusted evidence` reads (which test exercised "
        "which promise, and how it came out); default `test-manifest.json` in the data dir.",
    )
    restore_root: Path | None = Field(
        default=None,
        description="Sysadmins restore backups only into new directories under this one; "
        "default `restores` in the data dir.",
    )
    backup_interval_s: float = Field(
        default=86400.0, gt=0, description="How often the worker runs the backups.run job."
    )
    backup_purge_interval_s: float = Field(
        default=900.0,
        gt=0,
        description="How often the worker runs backups.purge (destroys each day's key once its "
        "7 days are over).",
    )
    backup_parallel: int = Field(
        default=2, ge=1, le=32, description="Archives sealed at the same time by one run."
    )
    # --- security hardening (issue 11) ---
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body the API accepts; a longer one is refused with 413 "
        "before it is read into memory.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For "
        "header names the client (rate limits, login limits and the access log see that "
        "address); empty: the header is ignored.",
    )
    # --- deployment (issue 17): the internal hook listener, see docs/deploy.md ---
    hooks_listen: str | None = Field(
        default=None,
        description="HOST:PORT of the internal listener for the mail and FTP login gates "
        "(`serve --role hooks`, or `--role all` beside the public API); unset: `--role all` "
        "serves them with the public API.",
    )
    hooks_allow_public_address: bool = Field(
        default=False,
        description="Let `hooks_listen` be a public (not loopback or private) address; off: "
        "serve refuses one.",
    )
    api_docs: bool = Field(
        default=False,
        description="Serve the interactive API docs (/docs, /redoc), whose pages load Swagger "
        "UI and ReDoc from a CDN; off by default. /openapi.json is always served.",
    )
    # --- observability (issue 17, docs/operations.md) ---
    metrics_token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token GET /metrics asks for (0600, 16+ "
        "characters, nothing else in it); unset: /metrics answers loopback clients only.",
    )
    metrics_cache_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long /metrics reuses its database figures, so scrapes do not each "
        "read the database; 0: read on every scrape.",
    )
    readiness_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Timeout of /readyz's SMTP relay check (connect, EHLO, QUIT; cached 30 s).",
    )
    fix_file_modes: bool = Field(
        default=True,
        description="At start, tighten the data directory to 0700 and the database, WAL and key "
        "files to 0600 (and say so); false: refuse to start while any is wider.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # uvicorn's middleware would take "*" as "trust everyone" and a typo as a host name
        # that never matches, silently: only addresses and networks are accepted here.
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("hooks_listen")
    @classmethod
    def _hooks_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'entrusted.db').resolve()}"

    @property
    def effective_message_dir(self) -> Path:
        return self.message_dir or self.data_dir / "outgoing"

    @property
    def effective_backup_dir(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def effective_evidence_test_manifest(self) -> Path:
        return self.evidence_test_manifest or self.data_dir / "test-manifest.json"

    @property
    def effective_restore_root(self) -> Path:
        return self.restore_root or self.data_dir / "restores"

    @property
    def effective_ledger_key_file(self) -> Path:
        return self.ledger_key_file or self.data_dir / "ledger.key"

    @property
    def effective_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def effective_index_key_file(self) -> Path:
        return self.index_key_file or self.data_dir / "index.key"

    def describe(self) -> dict[str, str]:
        """What is safe to show a person: every setting, the database password and every
        secret masked."""
        shown = {
            name: "***" if name in SECRET_SETTINGS and getattr(self, name) else str(value)
            for name in type(self).model_fields
            for value in [getattr(self, name)]
        }
        shown["database_url"] = redact_url(self.effective_database_url)
        return shown


def split_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPV6]:PORT` as `(host, port)`; ValueError for anything else."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (port 1-65535)")
    return host, int(port)


def redact_url(url: str) -> str:
    """Mask the password, whether in the user part or (as libpq also accepts) the query."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else pair
        for pair in parts.query.split("&")
        if pair
        for key in [pair.partition("=")[0]]
    )
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # untouched: urlunsplit would turn `sqlite:////abs` into `sqlite://abs`
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from (lowest to highest priority) the TOML file, the environment and
    explicit overrides. Any problem becomes `InvalidInput` naming the key."""
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput("config", f"file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            # A directory, an unreadable or a binary file: one line, not a traceback.
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InvalidInput("config", f"cannot read {path}: {reason}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput("config", f"{path} is not valid TOML: {exc}") from None
        unknown = sorted(set(file_values) - set(Settings.model_fields))
        if unknown:
            raise InvalidInput(f"config {path}", f"unknown key(s): {', '.join(unknown)}")
    # pydantic-settings matches variable names case-insensitively, so this check must too.
    env_names = {key.upper() for key in os.environ}
    env_set = {name for name in Settings.model_fields if f"ENTRUSTED_{name.upper()}" in env_names}
    # The environment beats the file: drop file values the environment sets, and let
    # pydantic-settings read the environment itself.
    merged = {k: v for k, v in file_values.items() if k not in env_set}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise InvalidInput(field, first["msg"]) from None
