"""Settings of the hosted services Entrusted guards: mailboxes (Dovecot), the FTP(S)
backup space and backups of mail, web and FTP data."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class MailSettings(BaseModel):
    """Where mailboxes are and how Dovecot is asked about them."""

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


class FtpSettings(BaseModel):
    """The FTPS server and, when it runs elsewhere, its link to the gate."""

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


class BackupSettings(BaseModel):
    """Sealed backups, restores and the evidence manifest."""

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
