"""Which rules files were deployed, kept so a later deployment can be diffed against them."""

from __future__ import annotations

import time

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.domain.policy_deployment import Deployment


class SqlDeploymentStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def latest(self) -> Deployment | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(t.policy_deployment).order_by(t.policy_deployment.c.id.desc()).limit(1)
            ).first()
        if row is None:
            return None
        return Deployment(
            sha256=row.sha256,
            rules=bytes(row.rules),
            source=row.source,
            deployed_by=row.deployed_by,
            deployed_at=row.deployed_at,
            summary=row.summary,
            ledger_index=int(row.ledger_index),
        )

    def add(self, deployment: Deployment) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                t.policy_deployment.insert().values(
                    sha256=deployment.sha256,
                    rules=deployment.rules,
                    source=deployment.source[:500],
                    deployed_by=deployment.deployed_by[:100],
                    deployed_at=deployment.deployed_at,
                    summary=deployment.summary[:2000],
                    ledger_index=deployment.ledger_index,
                )
            )


class SqlStaffDirectory:
    """The gate's check that a staff actor exists and is active; other kinds pass through
    until their registries exist (customers: the registry issue).

    A positive answer is remembered for `ttl_s` (one second by default): a query per decision
    would cost more than the decision and its durable ledger append together. Disabling a
    staff member revokes their tokens at once, so this is the second line, and it closes
    within the TTL; a negative answer is never cached.
    """

    def __init__(self, engine: sa.Engine, ttl_s: float = 1.0) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._active: dict[str, float] = {}

    def known(self, actor: object) -> bool:
        kind = getattr(getattr(actor, "kind", None), "value", None)
        if kind != "staff":
            return True
        staff_id = str(getattr(actor, "id", ""))
        now = time.monotonic()
        if self._active.get(staff_id, 0.0) > now:
            return True
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(t.staff.c.disabled_at).where(t.staff.c.id == staff_id)
            ).first()
        if row is None or row.disabled_at is not None:
            self._active.pop(staff_id, None)
            return False
        self._active[staff_id] = now + self._ttl
        return True
