"""Which rules files were deployed, kept so a later deployment can be diffed against them."""

from __future__ import annotations

import time

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.domain.policy import Role
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
    """The gate's check that a staff actor exists, is active and holds every role it claims;
    other kinds pass through until their registries exist (customers: the registry issue).

    The gate must not take a caller's word for the roles: an `Actor` is built by whichever
    boundary authenticated it, and one that claims `sysadmin` for a support agent would open
    the backups (P15). A positive answer (the roles held) is remembered for `ttl_s` (one
    second by default): a query per decision would cost more than the decision and its
    durable ledger append together. Disabling a staff member revokes their tokens at once,
    so this is the second line, and it closes within the TTL; a negative answer is never
    cached.
    """

    def __init__(self, engine: sa.Engine, ttl_s: float = 1.0) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._active: dict[str, tuple[float, frozenset[Role]]] = {}

    def known(self, actor: object) -> bool:
        kind = getattr(getattr(actor, "kind", None), "value", None)
        if kind != "staff":
            return True
        staff_id = str(getattr(actor, "id", ""))
        claimed = getattr(actor, "roles", None)
        if not isinstance(claimed, frozenset):
            return False
        now = time.monotonic()
        cached = self._active.get(staff_id)
        if cached is not None and cached[0] > now:
            return claimed <= cached[1]
        with self._engine.connect() as conn:
            row = conn.execute(_ACTIVE, {"v": staff_id}).first()
            stored = conn.execute(_ROLES, {"v": staff_id}).scalars()
            held = frozenset(Role(r) for r in stored if r in _ROLE_VALUES)
        if row is None or row.disabled_at is not None:
            self._active.pop(staff_id, None)
            return False
        self._active[staff_id] = (now + self._ttl, held)
        return claimed <= held

    def why_unknown(self, actor: object) -> str:
        """Which of the three causes refused `actor` (asked only after `known` said no, so
        the decisions' path keeps one cached answer): an audit must tell a typo'd id from a
        disabled account from a claimed role, the last being the forgery to look into."""
        staff_id = str(getattr(actor, "id", ""))
        with self._engine.connect() as conn:
            row = conn.execute(_ACTIVE, {"v": staff_id}).first()
            held = frozenset(conn.execute(_ROLES, {"v": staff_id}).scalars())
        if row is None:
            return f"no staff member {staff_id}"
        if row.disabled_at is not None:
            return f"staff member {staff_id} is disabled"
        claimed = getattr(actor, "roles", None)
        if not isinstance(claimed, frozenset):
            return "roles must be a set of known roles"
        missing = sorted(str(r) for r in claimed if str(r) not in held)
        if not missing:  # granted within the cache's second: refused as decided, and the
            self._active.pop(staff_id, None)  # stale answer dropped, so asking again works
            return f"staff member {staff_id} was given a role a moment ago; ask again"
        return f"staff member {staff_id} does not hold the role(s) {', '.join(missing)}"


_ACTIVE = sa.select(t.staff.c.disabled_at).where(t.staff.c.id == sa.bindparam("v"))
_ROLES = sa.select(t.staff_role.c.role).where(t.staff_role.c.staff_id == sa.bindparam("v"))
_ROLE_VALUES = frozenset(r.value for r in Role)
