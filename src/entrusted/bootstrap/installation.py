"""Installing Entrusted: the data directory, the schema, the key files and their modes, and
throw-away installations for benchmarks and trials."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from entrusted.adapters.db.engine import make_engine
from entrusted.adapters.file_modes import secure, sqlite_files
from entrusted.config import Settings
from entrusted.crypto.blind_index import create_index_key_file
from entrusted.crypto.envelope import create_master_key_file
from entrusted.crypto.signing import generate_key_file
from entrusted.crypto.signing_keys import rollover_files

if TYPE_CHECKING:
    from entrusted.bootstrap import Container

LEDGER_RECORD = "ledger.record"  # the signed local record, in the data directory


def database_exists(engine: sa.Engine) -> bool:
    """True when the database already holds Entrusted tables (so `init` must not touch it)."""
    return bool(sa.inspect(engine).get_table_names())


def initialise(settings: Settings, force: bool = False) -> list[str]:
    """Create the data directory, the database schema and the keys. Refuses to touch an
    existing installation unless `force` (which wipes it). Returns what was created."""
    from entrusted.adapters.db import migrate
    from entrusted.errors import Conflict

    created = []
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.effective_database_url)
    try:
        if database_exists(engine):
            if not force:
                where = settings.describe()["database_url"]
                raise Conflict(
                    f"an Entrusted database already exists at {where}; use --force to wipe it"
                )
            migrate.downgrade(engine, "base")
            for leftover in sa.inspect(engine).get_table_names():
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP TABLE IF EXISTS "{leftover}"'))
        migrate.upgrade(engine)
        created.append(f"database at revision {migrate.current_revision(engine)}")
        for hook in INIT_HOOKS:
            created.extend(hook(settings, force))
    finally:
        engine.dispose()
    return created


def _ledger_key(settings: Settings, force: bool) -> list[str]:
    path = settings.effective_ledger_key_file
    if force:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".pub").unlink(missing_ok=True)
        for rolled in rollover_files(path):  # the wiped log's later keys and key history
            rolled.unlink(missing_ok=True)
            rolled.with_name(rolled.name + ".pub").unlink(missing_ok=True)
        # The wiped log's signed local record: kept, it would (rightly) refuse the new log.
        (settings.data_dir / LEDGER_RECORD).unlink(missing_ok=True)
    if path.exists():
        return [f"nothing: ledger signing key {path} exists and is kept"]
    vkey = generate_key_file(path, settings.ledger_origin)
    return [f"ledger signing key {path} (verifier key: {vkey})"]


def _registry_key_files(settings: Settings, force: bool) -> list[str]:
    """The master key and the blind-index key, each in its own 0600 file, unless the
    environment gives them."""
    return [
        _key_file(settings.master_key, settings.effective_master_key_file, "master key", force,
                  create_master_key_file),
        _key_file(settings.index_key, settings.effective_index_key_file, "blind-index key", force,
                  create_index_key_file),
    ]  # fmt: skip


def _key_file(
    from_env: str | None, path: Path, what: str, force: bool, create: Callable[[Path], object]
) -> str:
    if from_env:
        return f"nothing: the {what} comes from the environment"
    if force:
        path.unlink(missing_ok=True)
    if path.exists():
        return f"nothing: {what} {path} exists and is kept"
    create(path)
    return f"{what} {path}"


# Areas that own key material or files register a function here (settings, force) -> notes.
def secure_files(settings: Settings) -> list[str]:
    """The data directory, the SQLite database and its companions, and the key files:
    tightened to 0700/0600, or refused when `fix_file_modes` is off (see adapters.file_modes)."""
    url = sa.make_url(settings.effective_database_url)
    database = url.database if url.get_backend_name() == "sqlite" else None
    files = sqlite_files(Path(database)) if database else []
    keys = [settings.effective_ledger_key_file, settings.data_dir / LEDGER_RECORD]
    keys += rollover_files(settings.effective_ledger_key_file)  # docs/keys.md
    keys += [] if settings.master_key else [settings.effective_master_key_file]
    keys += [] if settings.index_key else [settings.effective_index_key_file]
    keys += list(settings.previous_master_key_files)
    return secure(settings.data_dir, [*files, *keys], fix=settings.fix_file_modes)


def _tighten_created_files(settings: Settings, _force: bool) -> list[str]:
    """`init` created the database under the umask: tighten it whatever `fix_file_modes`."""
    return secure_files(settings.model_copy(update={"fix_file_modes": True}))


INIT_HOOKS: list[Callable[[Settings, bool], list[str]]] = [_ledger_key, _registry_key_files]
INIT_HOOKS.append(_tighten_created_files)


@contextmanager
def scratch_installation(database_url: str | None = None) -> Iterator[Container]:
    """A throw-away installation for benchmarks and trials: a temporary data directory and
    SQLite file, or, given a PostgreSQL URL, a private schema that is dropped afterwards, so a
    measurement never touches real data and runs never collide."""
    with tempfile.TemporaryDirectory(prefix="entrusted-scratch-") as tmp:
        url, schema = database_url, None
        admin = make_engine(database_url) if database_url else None
        if admin is not None and admin.dialect.name == "postgresql":
            schema = f"scratch_{uuid.uuid4().hex[:12]}"
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            url = (
                sa.make_url(str(database_url))
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
        # A measurement logs staff in with a password alone: no second factor to enrol. Its
        # messages go to files in the temporary directory (the explicit directory transport).
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=url,
            staff_totp_required=False,
            mail_transport="directory",
            sms_transport="directory",
        )
        from entrusted.bootstrap import build  # the composition root imports this module

        try:
            initialise(settings)
            c = build(settings)
            try:
                yield c
            finally:
                c.close()
        finally:
            if admin is not None:
                if schema is not None:
                    with admin.begin() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
