"""The public policy document's versions (P17) in the database. A version is only ever
inserted, never updated: the number is the primary key, so of two racing publications of the
same number exactly one is stored and the other is told (`Conflict`)."""

from __future__ import annotations

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.domain.policy_document import PolicyVersion
from entrusted.errors import Conflict

_V = t.policy_document_version.c


def _version(row: sa.RowMapping) -> PolicyVersion:
    return PolicyVersion(
        number=int(row["number"]),
        text=row["text"],
        sha256=row["sha256"],
        effective=row["effective"],
        author=row["author"],
        summary=row["summary"],
        published_at=row["published_at"],
    )


class SqlPolicyDocumentStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def versions(self) -> list[PolicyVersion]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t.policy_document_version).order_by(_V.number))
            return [_version(r) for r in rows.mappings()]

    def get(self, number: int) -> PolicyVersion | None:
        with self._engine.connect() as conn:
            row = (
                conn.execute(sa.select(t.policy_document_version).where(_V.number == number))
                .mappings()
                .first()
            )
        return None if row is None else _version(row)

    def add(self, version: PolicyVersion) -> None:
        v = version
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    t.policy_document_version.insert().values(
                        number=v.number,
                        text=v.text,
                        sha256=v.sha256,
                        effective=v.effective,
                        author=v.author[:64],
                        summary=v.summary[:500],
                        published_at=v.published_at,
                    )
                )
        except sa.exc.IntegrityError:
            raise Conflict(f"policy document version {v.number} exists") from None
