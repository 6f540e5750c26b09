"""Settings of the installation itself: where it keeps things, the ledger and its
witnesses, staff log-in limits and the keys protecting customers' data."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator


class CoreSettings(BaseModel):
    """Where the installation keeps its data and which rules it runs."""

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


class LedgerSettings(BaseModel):
    """The transparency log: checkpoints, verification, witnesses."""

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


class AccessSettings(BaseModel):
    """Staff log-in limits, tokens and second factor; and the log level (kept here so that
    `config show` lists the settings in their long-standing order)."""

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

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper


class KeySettings(BaseModel):
    """The master key (KEK) and the blind-index key."""

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
