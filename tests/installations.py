"""Installed copies for the `container` fixture: `initialise` runs once per session and per
kind of installation, and each test gets a copy of what it made, so that nine hundred
database tests do not each run the twenty Alembic migrations (about 0.2 s on SQLite, 0.6 s
on PostgreSQL, minutes over the suite).

The copy is the installation `initialise` makes, not a look-alike:
- the data directory (key files, their 0700/0600 modes) is copied with `shutil.copytree`;
- SQLite: the database file `initialise` wrote is copied byte for byte;
- PostgreSQL: the statements `initialise` sent to the template schema (DDL, Alembic's own
  table, the shipped policy document) are replayed, as sent, through the driver into the
  test's own fresh schema; the tables are created unqualified, under the URL's search_path.

Tests that share a template share its keys; no test compares keys across two `container`
fixtures (a test that needs another installation initialises it itself). Settings that name
a key file or carry a key, or a SQLite file already there, are initialised as before.
The migrations themselves are tested by tests/integration/test_migrations.py."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from entrusted.bootstrap import INIT_HOOKS, initialise
from entrusted.config import Settings

# What `initialise` does beyond the migrations; of the settings, these steps read the key
# files and keys (a test naming one is initialised as before) and the ledger origin (the
# template key). A step added to INIT_HOOKS turns the templates off until it is named here.
_KNOWN_HOOKS = ["_ledger_key", "_registry_key_files", "_tighten_created_files"]


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: Any
    many: bool
    none: bool  # sent without parameters (no placeholder processing), as SQLAlchemy did


@dataclass
class _Template:
    data_dir: Path
    sqlite_file: Path | None = None
    statements: list[_Statement] = field(default_factory=list)


class Installations:
    """The session's templates, keyed by backend and ledger origin."""

    def __init__(self, root: Path, pg_admin_url: str) -> None:
        self.root = root
        self.pg_admin_url = pg_admin_url
        self.templates: dict[str, _Template] = {}
        self.schemas: list[str] = []

    def install(self, settings: Settings) -> None:
        """What `initialise(settings)` makes, copied from a template when it can be."""
        key = self._key(settings)
        if key is None:
            initialise(settings)
            return
        template = self.templates.get(key) or self._make(key, settings)
        shutil.copytree(template.data_dir, settings.data_dir, dirs_exist_ok=True)
        url = sa.make_url(settings.effective_database_url)
        if template.sqlite_file is not None:
            shutil.copy2(template.sqlite_file, str(url.database))
        else:
            _replay(settings.effective_database_url, template.statements)

    def _key(self, settings: Settings) -> str | None:
        if settings.ledger_key_file or settings.master_key_file or settings.index_key_file:
            return None
        if settings.master_key or settings.index_key or settings.data_dir.exists():
            return None
        url = sa.make_url(settings.effective_database_url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            if not url.database or Path(url.database).exists():
                return None
        elif backend != "postgresql" or "search_path" not in str(url.query.get("options", "")):
            return None
        if [hook.__name__ for hook in INIT_HOOKS] != _KNOWN_HOOKS:
            return None  # a new init step may read settings this key does not name
        return f"{backend} {settings.ledger_origin}"

    def _make(self, key: str, settings: Settings) -> _Template:
        home = Path(tempfile.mkdtemp(prefix="template-", dir=self.root))
        data_dir = home / "data"
        if key.startswith("sqlite"):
            db = home / "entrusted.db"
            initialise(settings.model_copy(update={"data_dir": data_dir,
                                                   "database_url": f"sqlite:///{db}"}))  # fmt: skip
            leftovers = {p.name for p in home.iterdir()} - {"data", "entrusted.db"}
            assert not leftovers, f"initialise wrote outside its data dir and database: {leftovers}"
            template = _Template(data_dir, sqlite_file=db)
        else:
            schema = f"tmpl_{uuid.uuid4().hex[:12]}"
            url = _schema_url(self.pg_admin_url, schema)
            admin = sa.create_engine(self.pg_admin_url)
            try:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            finally:
                admin.dispose()
            self.schemas.append(schema)
            with _recording(schema) as statements:
                initialise(settings.model_copy(update={"data_dir": data_dir, "database_url": url}))
            template = _Template(data_dir, statements=statements)
        self.templates[key] = template
        return template

    def close(self) -> None:
        if self.schemas:
            admin = sa.create_engine(self.pg_admin_url)
            try:
                with admin.begin() as conn:
                    for schema in self.schemas:
                        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            finally:
                admin.dispose()
        shutil.rmtree(self.root, ignore_errors=True)


def _schema_url(admin_url: str, schema: str) -> str:
    url = sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def _recording(schema: str) -> Iterator[list[_Statement]]:
    """Every statement sent on a connection to `schema` while the block runs."""
    statements: list[_Statement] = []

    def record(
        conn: sa.Connection, _cursor: Any, sql: str, params: Any, context: Any, many: bool
    ) -> None:
        if schema in str(conn.engine.url.query.get("options", "")):
            none = bool(context is not None and context.no_parameters and not params)
            statements.append(_Statement(sql, params, many, none))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def _replay(url: str, statements: list[_Statement]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:
                for s in statements:
                    if s.many:
                        cursor.executemany(s.sql, s.params)
                    elif s.none:
                        cursor.execute(s.sql)
                    else:
                        cursor.execute(s.sql, s.params)
    finally:
        engine.dispose()
