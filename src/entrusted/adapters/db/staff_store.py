"""SQL repositories for staff, tokens and login failures (P8, P14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.locks import hold_xact_lock, storable
from entrusted.domain.policy import Role
from entrusted.domain.staff import ApiToken, ServiceName, StaffMember, TokenKind

# The hot reads as statements built once, with bound parameters: building a SELECT per call
# cost about three times its execution (a staff login asks several).
_STAFF_BY_ID = sa.select(t.staff).where(t.staff.c.id == sa.bindparam("v"))
_STAFF_BY_USERNAME = sa.select(t.staff).where(t.staff.c.username == sa.bindparam("v"))
_ALL_STAFF = sa.select(t.staff).order_by(t.staff.c.username)
_ROLES_OF = sa.select(t.staff_role.c.role).where(t.staff_role.c.staff_id == sa.bindparam("v"))
_PASSWORD_HASH = sa.select(t.staff.c.password_hash).where(t.staff.c.id == sa.bindparam("v"))
_TOKEN_BY_DIGEST = sa.select(t.api_token).where(t.api_token.c.token_hash == sa.bindparam("v"))
_FAILURES = sa.select(sa.func.count()).select_from(t.login_failure)
_FAILURES_FOR_ACCOUNT = _FAILURES.where(
    t.login_failure.c.account == sa.bindparam("v"), t.login_failure.c.at >= sa.bindparam("since")
)
_FAILURES_FOR_ADDRESS = _FAILURES.where(
    t.login_failure.c.address == sa.bindparam("v"), t.login_failure.c.at >= sa.bindparam("since")
)


class SqlStaffRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, member: StaffMember, password_hash: str) -> None:
        self._conn.execute(
            t.staff.insert().values(
                id=member.id,
                username=member.username,
                display_name=member.display_name,
                password_hash=password_hash,
                totp_enabled=member.totp_enabled,
                created_at=member.created_at,
                disabled_at=member.disabled_at,
            )
        )
        self._conn.execute(
            t.staff_role.insert(), [{"staff_id": member.id, "role": r.value} for r in member.roles]
        )

    def _load(self, query: sa.Select[Any], value: str | None = None) -> list[StaffMember]:
        rows = self._conn.execute(query, {} if value is None else {"v": value})
        members = []
        for row in rows.mappings():
            roles = self._conn.execute(_ROLES_OF, {"v": row["id"]}).scalars()
            members.append(
                StaffMember(
                    id=row["id"],
                    username=row["username"],
                    display_name=row["display_name"],
                    roles=frozenset(Role(r) for r in roles),
                    created_at=row["created_at"],
                    totp_enabled=bool(row["totp_enabled"]),
                    disabled_at=row["disabled_at"],
                )
            )
        return members

    def get(self, staff_id: str) -> StaffMember | None:
        found = self._load(_STAFF_BY_ID, staff_id)
        return found[0] if found else None

    def by_username(self, username: str) -> StaffMember | None:
        if "\x00" in username:  # no username holds one, and PostgreSQL text cannot
            return None
        found = self._load(_STAFF_BY_USERNAME, username)
        return found[0] if found else None

    def password_hash(self, staff_id: str) -> str | None:
        value = self._conn.execute(_PASSWORD_HASH, {"v": staff_id}).scalar_one_or_none()
        return None if value is None else str(value)

    def totp_seed(self, staff_id: str, pending: bool = False) -> bytes | None:
        """The sealed active seed, or with `pending` the one being enrolled."""
        column = t.staff.c.totp_pending_seed if pending else t.staff.c.totp_seed
        value = self._conn.execute(
            sa.select(column).where(t.staff.c.id == staff_id)
        ).scalar_one_or_none()
        return None if value is None else bytes(value)

    def all(self) -> list[StaffMember]:
        return self._load(_ALL_STAFF)

    def set_disabled(self, staff_id: str, at: datetime) -> None:
        self._conn.execute(t.staff.update().where(t.staff.c.id == staff_id).values(disabled_at=at))

    def set_roles(self, staff_id: str, roles: frozenset[Role]) -> None:
        self._conn.execute(t.staff_role.delete().where(t.staff_role.c.staff_id == staff_id))
        self._conn.execute(
            t.staff_role.insert(), [{"staff_id": staff_id, "role": r.value} for r in roles]
        )

    def set_pending_totp(self, staff_id: str, sealed: bytes | None) -> None:
        """Store a seed being enrolled; the active one (if any) stays in force meanwhile."""
        self._conn.execute(
            t.staff.update().where(t.staff.c.id == staff_id).values(totp_pending_seed=sealed)
        )

    def activate_totp(self, staff_id: str, sealed: bytes, step: int) -> None:
        """The confirmed seed becomes the active one; `step` (the confirming code's) is used."""
        self._conn.execute(
            t.staff.update()
            .where(t.staff.c.id == staff_id)
            .values(
                totp_seed=sealed, totp_pending_seed=None, totp_enabled=True, totp_last_step=step
            )
        )

    def use_totp_step(self, staff_id: str, step: int) -> bool:
        """Record `step` as used, only if it is later than the last one: a conditional update,
        so two requests racing with the same code cannot both pass."""
        last = t.staff.c.totp_last_step
        done = self._conn.execute(
            t.staff.update()
            .where(t.staff.c.id == staff_id, sa.or_(last.is_(None), last < step))
            .values(totp_last_step=step)
        )
        return bool(done.rowcount)

    def sealed_seeds(self) -> list[tuple[str, bytes | None, bytes | None]]:
        """(staff id, active seed, pending seed) of every member holding a sealed seed."""
        s = t.staff.c
        rows = self._conn.execute(
            sa.select(s.id, s.totp_seed, s.totp_pending_seed)
            .where(sa.or_(s.totp_seed.is_not(None), s.totp_pending_seed.is_not(None)))
            .order_by(s.id)
        )
        return [(r[0], _blob(r[1]), _blob(r[2])) for r in rows]

    def clear_totp(self, staff_id: str) -> None:
        """Forget both seeds and switch the second factor off (an explicit, ledgered reset);
        the last step used stays, so an old code can never count again."""
        self._conn.execute(
            t.staff.update()
            .where(t.staff.c.id == staff_id)
            .values(totp_seed=None, totp_pending_seed=None, totp_enabled=False)
        )

    def replace_seeds(self, staff_id: str, active: bytes | None, pending: bytes | None) -> None:
        self._conn.execute(
            t.staff.update()
            .where(t.staff.c.id == staff_id)
            .values(totp_seed=active, totp_pending_seed=pending)
        )

    def totp_last_step(self, staff_id: str) -> int | None:
        value = self._conn.execute(
            sa.select(t.staff.c.totp_last_step).where(t.staff.c.id == staff_id)
        ).scalar_one_or_none()
        return None if value is None else int(value)


def _blob(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]


def _token(row: sa.RowMapping) -> ApiToken:
    return ApiToken(
        id=row["id"],
        kind=TokenKind(row["kind"]),
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        staff_id=row["staff_id"],
        service=ServiceName(row["service"]) if row["service"] else None,
        revoked_at=row["revoked_at"],
    )


class SqlTokenRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, token: ApiToken, digest: bytes) -> None:
        self._conn.execute(
            t.api_token.insert().values(
                id=token.id,
                token_hash=digest,
                kind=token.kind.value,
                staff_id=token.staff_id,
                service=token.service.value if token.service else None,
                label=token.label,
                created_at=token.created_at,
                expires_at=token.expires_at,
                revoked_at=token.revoked_at,
            )
        )

    def _one(self, where: sa.ColumnElement[bool]) -> ApiToken | None:
        row = self._conn.execute(sa.select(t.api_token).where(where)).mappings().first()
        return None if row is None else _token(row)

    def by_digest(self, digest: bytes) -> ApiToken | None:
        row = self._conn.execute(_TOKEN_BY_DIGEST, {"v": digest}).mappings().first()
        return None if row is None else _token(row)  # every API request asks this

    def get(self, token_id: str) -> ApiToken | None:
        return self._one(t.api_token.c.id == token_id)

    def list_for_staff(self, staff_id: str) -> list[ApiToken]:
        rows = self._conn.execute(
            sa.select(t.api_token)
            .where(t.api_token.c.staff_id == staff_id)
            .order_by(t.api_token.c.created_at)
        ).mappings()
        return [_token(r) for r in rows]

    def list_services(self) -> list[ApiToken]:
        rows = self._conn.execute(
            sa.select(t.api_token)
            .where(t.api_token.c.kind == TokenKind.SERVICE.value)
            .order_by(t.api_token.c.created_at)
        ).mappings()
        return [_token(r) for r in rows]

    def revoke(self, token_id: str, at: datetime) -> None:
        self._conn.execute(
            t.api_token.update()
            .where(t.api_token.c.id == token_id, t.api_token.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def revoke_all_for_staff(self, staff_id: str, at: datetime) -> None:
        self._conn.execute(
            t.api_token.update()
            .where(t.api_token.c.staff_id == staff_id, t.api_token.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )


class SqlLoginFailureRepository:
    """Failed logins, and staff attempts still in flight (`begin` records one before its
    password is hashed; `settle` makes it a failure, `drop` forgets a success)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def hold(self, account: str, address: str) -> None:
        """Make concurrent attempts on this account or from this address wait for this unit,
        so each one counts the attempts recorded before it (issue 11). SQLite's writing unit
        already holds the only write lock (BEGIN IMMEDIATE); PostgreSQL at READ COMMITTED
        would let two units count the same rows, so they queue on transaction advisory locks,
        taken in one order to avoid deadlocks and released at commit or rollback."""
        if self._conn.dialect.name != "postgresql":
            return
        for key in sorted({f"login-account:{account}", f"login-address:{address}"}):
            hold_xact_lock(self._conn, key)

    def record(self, account: str, address: str, at: datetime) -> None:
        account, address = storable(account), storable(address)
        self._conn.execute(t.login_failure.insert().values(account=account, address=address, at=at))

    def begin(self, account: str, address: str, at: datetime) -> int:
        account, address = storable(account), storable(address)
        result = self._conn.execute(
            t.login_failure.insert().values(account=account, address=address, at=at, in_flight=True)
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def settle(self, attempt_id: int) -> None:
        self._conn.execute(
            t.login_failure.update()
            .where(t.login_failure.c.id == attempt_id)
            .values(in_flight=False)
        )

    def drop(self, attempt_id: int) -> None:
        self._conn.execute(t.login_failure.delete().where(t.login_failure.c.id == attempt_id))

    def _count(self, where: sa.ColumnElement[bool]) -> int:
        value = self._conn.execute(
            sa.select(sa.func.count()).select_from(t.login_failure).where(where)
        ).scalar_one()
        return int(value)

    def count_for_account(self, account: str, since: datetime) -> int:
        found = self._conn.execute(_FAILURES_FOR_ACCOUNT, {"v": storable(account), "since": since})
        return int(found.scalar_one())

    def count_for_address(self, address: str, since: datetime) -> int:
        found = self._conn.execute(_FAILURES_FOR_ADDRESS, {"v": storable(address), "since": since})
        return int(found.scalar_one())

    def in_flight(self, account: str, address: str, since: datetime) -> int:
        f = t.login_failure.c
        return self._count(
            sa.and_(
                f.in_flight.is_(True),
                f.at >= since,
                sa.or_(f.account == storable(account), f.address == storable(address)),
            )
        )

    def clear_account(self, account: str) -> None:
        """Forget the account's failures; attempts still in flight settle on their own."""
        self._conn.execute(
            t.login_failure.delete().where(
                t.login_failure.c.account == storable(account),
                t.login_failure.c.in_flight.is_(False),
            )
        )
