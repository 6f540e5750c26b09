"""Alembic environment: always driven programmatically with a live connection
(`entrusted migrate`, `entrusted init`, the tests); never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from entrusted.adapters.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
