"""Settings: read once, by the composition root, from a TOML file and `ENTRUSTED_*` variables.

Unknown keys are errors rather than silently ignored: a typo in a privacy system's
configuration (say `rule_file` for `rules_file`) must not quietly fall back to a default.
Secrets (database passwords, key material) are never part of `repr()` or log output; use
`Settings.describe()` for anything shown to a person.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from entrusted.config_areas.core import AccessSettings, CoreSettings, KeySettings, LedgerSettings
from entrusted.config_areas.hosting import BackupSettings, FtpSettings, MailSettings
from entrusted.config_areas.messages import ConsentSettings, CustomerSettings, MessageSettings
from entrusted.config_areas.serving import ServingSettings, split_listen
from entrusted.errors import InvalidInput

__all__ = [
    "CONFIG_ENV",
    "SECRET_SETTINGS",
    "Settings",
    "load_settings",
    "redact_url",
    "split_listen",
]

CONFIG_ENV = "ENTRUSTED_CONFIG"
SECRET_SETTINGS = frozenset({"master_key", "index_key", "smtp_password", "sms_gateway_token"})


# pydantic lists inherited fields from the last base to the first: the areas stand here in
# reverse so that `model_fields` (and `config show`) keep the order they always had.
class Settings(
    ServingSettings,
    BackupSettings,
    FtpSettings,
    MailSettings,
    ConsentSettings,
    CustomerSettings,
    MessageSettings,
    KeySettings,
    AccessSettings,
    LedgerSettings,
    CoreSettings,
    BaseSettings,
):
    """Every knob of an Entrusted installation. Environment variables use the `ENTRUSTED_`
    prefix (`ENTRUSTED_DATA_DIR=/srv/entrusted`); a TOML file given by `--config` or
    `ENTRUSTED_CONFIG` holds the same keys without the prefix."""

    model_config = SettingsConfigDict(env_prefix="ENTRUSTED_", extra="forbid", frozen=True)

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
