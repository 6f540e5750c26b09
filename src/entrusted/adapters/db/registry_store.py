"""SQL repositories of the customer registry (P1, P2), and the wrapped-key store that master
key rotation works on. They move ciphertexts and blind indexes; nothing here sees a personal
detail in clear."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from entrusted.adapters.db import tables as t
from entrusted.crypto.envelope import WrappedKey
from entrusted.crypto.personal import SealedPendingEmail
from entrusted.domain.registry import (
    ALREADY_HOSTED,
    ContractStatus,
    CustomerStatus,
    SealedCustomer,
    ServiceKind,
    StoredContract,
    StoredService,
    Transfer,
)
from entrusted.errors import Conflict, Unavailable

DUPLICATE_EMAIL = "a customer with this e-mail address is already registered"
_C = t.customer.c
_P = t.pending_email.c
_PERSONAL = (
    "kek_id", "wrapped_key", "last_name", "first_name", "email", "email_idx",
    "phone", "phone_idx", "mobile", "mobile_idx",
)  # fmt: skip
_PREFERENCES = ("language", "time_zone")
_CUSTOMER_COLUMNS = [
    _C[name] for name in ("id", "status", "created_at", *_PERSONAL, *_PREFERENCES)
]
# Built once with a bound parameter: building the SELECT cost more than running it.
_CUSTOMER_BY_ID = sa.select(*_CUSTOMER_COLUMNS).where(_C.id == sa.bindparam("v"))
_CUSTOMER_BY_EMAIL = sa.select(*_CUSTOMER_COLUMNS).where(_C.email_idx == sa.bindparam("v"))


def _opt(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _customer(row: sa.RowMapping) -> SealedCustomer:
    return SealedCustomer(
        id=row["id"],
        status=CustomerStatus(row["status"]),
        created_at=row["created_at"],
        kek_id=row["kek_id"],
        wrapped_key=bytes(row["wrapped_key"]),
        last_name=bytes(row["last_name"]),
        first_name=bytes(row["first_name"]),
        email=bytes(row["email"]),
        email_idx=bytes(row["email_idx"]),
        phone=_opt(row["phone"]),
        phone_idx=_opt(row["phone_idx"]),
        mobile=_opt(row["mobile"]),
        mobile_idx=_opt(row["mobile_idx"]),
        language=row["language"],
        time_zone=row["time_zone"],
    )


def _values(c: SealedCustomer) -> dict[str, Any]:
    return {
        "id": c.id,
        "status": c.status.value,
        "created_at": c.created_at,
        **{name: getattr(c, name) for name in (*_PERSONAL, *_PREFERENCES)},
    }


class SqlCustomerRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, customer: SealedCustomer) -> None:
        self.add_many([customer])

    def add_many(self, customers: Sequence[SealedCustomer]) -> None:
        if not customers:
            return
        try:
            self._conn.execute(t.customer.insert(), [_values(c) for c in customers])
        except IntegrityError:
            raise Conflict(DUPLICATE_EMAIL) from None

    def _one(self, query: sa.Select[Any], value: object) -> SealedCustomer | None:
        row = self._conn.execute(query, {"v": value}).mappings().first()
        return None if row is None else _customer(row)

    def get(self, customer_id: str) -> SealedCustomer | None:
        return self._one(_CUSTOMER_BY_ID, customer_id)  # every customer request asks this

    def by_email_index(self, idx: bytes) -> SealedCustomer | None:
        return self._one(_CUSTOMER_BY_EMAIL, idx)

    def by_phone_index(self, idx: bytes) -> list[SealedCustomer]:
        rows = self._conn.execute(
            sa.select(*_CUSTOMER_COLUMNS)
            .where(sa.or_(_C.phone_idx == idx, _C.mobile_idx == idx))
            .order_by(_C.id)
        ).mappings()
        return [_customer(r) for r in rows]

    def emails_on_file(self, idxs: Sequence[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(idxs), 500):  # stay below every driver's parameter limit
            chunk = list(idxs[start : start + 500])
            rows = self._conn.execute(sa.select(_C.email_idx).where(_C.email_idx.in_(chunk)))
            found.update(bytes(r) for r in rows.scalars())
        return found

    def update(self, customer: SealedCustomer) -> None:
        values = _values(customer)
        del values["id"], values["created_at"]
        try:
            self._conn.execute(t.customer.update().where(_C.id == customer.id).values(**values))
        except IntegrityError:
            raise Conflict(DUPLICATE_EMAIL) from None

    def set_password_token(
        self, customer_id: str, digest: bytes | None, expires_at: datetime | None
    ) -> None:
        self._conn.execute(
            t.customer.update()
            .where(_C.id == customer_id)
            .values(password_token_hash=digest, password_token_expires_at=expires_at)
        )

    def by_password_token(self, digest: bytes) -> tuple[SealedCustomer, datetime] | None:
        row = (
            self._conn.execute(
                sa.select(*_CUSTOMER_COLUMNS, _C.password_token_expires_at).where(
                    _C.password_token_hash == digest
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _customer(row), row["password_token_expires_at"]

    def set_password(self, customer_id: str, password_hash: str) -> None:
        self._conn.execute(
            t.customer.update()
            .where(_C.id == customer_id)
            .values(
                password_hash=password_hash,
                password_token_hash=None,
                password_token_expires_at=None,
            )
        )

    def password_hash(self, customer_id: str) -> str | None:
        value = self._conn.execute(
            sa.select(_C.password_hash).where(_C.id == customer_id)
        ).scalar_one_or_none()
        return None if value is None else str(value)

    def set_pending_email(self, pending: SealedPendingEmail) -> None:
        """A newer request replaces the one before: one pending address per customer."""
        self.drop_pending_email(pending.customer_id)
        self._conn.execute(
            t.pending_email.insert().values(
                customer_id=pending.customer_id,
                email=pending.email,
                email_idx=pending.email_idx,
                token_hash=pending.token_hash,
                requested_at=pending.requested_at,
                expires_at=pending.expires_at,
            )
        )

    def _pending(self, where: sa.ColumnElement[bool]) -> SealedPendingEmail | None:
        row = self._conn.execute(sa.select(t.pending_email).where(where)).mappings().first()
        if row is None:
            return None
        return SealedPendingEmail(
            customer_id=row["customer_id"],
            email=bytes(row["email"]),
            email_idx=bytes(row["email_idx"]),
            requested_at=row["requested_at"],
            expires_at=row["expires_at"],
            token_hash=_opt(row["token_hash"]),
        )

    def pending_email(self, customer_id: str) -> SealedPendingEmail | None:
        return self._pending(_P.customer_id == customer_id)

    def pending_email_by_token(self, digest: bytes) -> SealedPendingEmail | None:
        return self._pending(_P.token_hash == digest)

    def set_pending_email_token(self, customer_id: str, digest: bytes) -> None:
        pending = t.pending_email.update().where(_P.customer_id == customer_id)
        self._conn.execute(pending.values(token_hash=digest))

    def drop_pending_email(self, customer_id: str) -> None:
        self._conn.execute(t.pending_email.delete().where(_P.customer_id == customer_id))


def _service(row: sa.RowMapping) -> StoredService:
    return StoredService(
        id=row["id"],
        contract_id=row["contract_id"],
        kind=ServiceKind(row["kind"]),
        name=bytes(row["name"]),
        name_idx=_opt(row["name_idx"]),
    )


def _service_values(s: StoredService) -> dict[str, Any]:
    return {
        "id": s.id,
        "contract_id": s.contract_id,
        "kind": s.kind.value,
        "name": s.name,
        "name_idx": s.name_idx,
    }


# Contract reads as statements built once, with bound parameters (building a SELECT per call
# cost about three times its execution; the mail and FTP gates look a contract up each login).
_CONTRACTS = sa.select(t.contract).order_by(t.contract.c.id)
_CONTRACT_BY_ID = _CONTRACTS.where(t.contract.c.id == sa.bindparam("v"))
_CONTRACTS_OF_HOLDER = _CONTRACTS.where(t.contract.c.holder_id == sa.bindparam("v"))
_CONTRACT_HOSTING = _CONTRACTS.where(
    t.contract.c.id.in_(
        sa.select(t.hosted_service.c.contract_id)
        .where(t.hosted_service.c.name_idx == sa.bindparam("v"))
        .scalar_subquery()
    )
)
_SERVICES_OF = (
    sa.select(t.hosted_service)
    .where(t.hosted_service.c.contract_id.in_(sa.bindparam("ids", expanding=True)))
    .where(t.hosted_service.c.removed_at.is_(None))  # removed by provisioning (0020)
    .order_by(t.hosted_service.c.id)
)


class SqlContractRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, contract: StoredContract) -> None:
        self._conn.execute(
            t.contract.insert().values(
                id=contract.id,
                holder_id=contract.holder_id,
                status=contract.status.value,
                created_at=contract.created_at,
                cancelled_at=contract.cancelled_at,
            )
        )
        if contract.services:
            try:
                self._conn.execute(
                    t.hosted_service.insert(), [_service_values(s) for s in contract.services]
                )
            except IntegrityError:
                raise Conflict(ALREADY_HOSTED) from None

    def _load(self, query: sa.Select[Any], value: object) -> list[StoredContract]:
        rows = list(self._conn.execute(query, {"v": value}).mappings())
        if not rows:
            return []
        services: dict[str, list[StoredService]] = {}
        found = self._conn.execute(_SERVICES_OF, {"ids": [r["id"] for r in rows]}).mappings()
        for s in found:
            services.setdefault(s["contract_id"], []).append(_service(s))
        return [
            StoredContract(
                id=r["id"],
                holder_id=r["holder_id"],
                status=ContractStatus(r["status"]),
                created_at=r["created_at"],
                cancelled_at=r["cancelled_at"],
                services=tuple(services.get(r["id"], ())),
            )
            for r in rows
        ]

    def get(self, contract_id: str) -> StoredContract | None:
        found = self._load(_CONTRACT_BY_ID, contract_id)
        return found[0] if found else None

    def for_holder(self, customer_id: str) -> list[StoredContract]:
        return self._load(_CONTRACTS_OF_HOLDER, customer_id)

    def by_mailbox_index(self, idx: bytes) -> StoredContract | None:
        """The contract hosting the mailbox whose address has this blind index."""
        found = self._load(_CONTRACT_HOSTING, idx)
        return found[0] if found else None

    def move(self, contract_id: str, holder_id: str, services: Sequence[StoredService]) -> None:
        self._conn.execute(
            t.contract.update().where(t.contract.c.id == contract_id).values(holder_id=holder_id)
        )
        for s in services:
            self._conn.execute(
                t.hosted_service.update().where(t.hosted_service.c.id == s.id).values(name=s.name)
            )

    def cancel(self, contract_id: str, at: datetime) -> None:
        self._conn.execute(
            t.contract.update()
            .where(t.contract.c.id == contract_id)
            .values(status=ContractStatus.CANCELLED.value, cancelled_at=at)
        )

    def add_transfer(self, transfer: Transfer) -> None:
        self._conn.execute(
            t.contract_transfer.insert().values(
                id=transfer.id,
                contract_id=transfer.contract_id,
                from_customer=transfer.from_customer,
                to_customer=transfer.to_customer,
                at=transfer.at,
                by=transfer.by,
                ledger_index=transfer.ledger_index,
            )
        )

    def transfers_for(self, customer_id: str) -> list[Transfer]:
        tr = t.contract_transfer.c
        rows = self._conn.execute(
            sa.select(t.contract_transfer)
            .where(sa.or_(tr.from_customer == customer_id, tr.to_customer == customer_id))
            .order_by(tr.at, tr.id)
        ).mappings()
        return [
            Transfer(
                id=r["id"],
                contract_id=r["contract_id"],
                from_customer=r["from_customer"],
                to_customer=r["to_customer"],
                at=r["at"],
                by=r["by"],
                ledger_index=int(r["ledger_index"]),
            )
            for r in rows
        ]


class SqlWrappedKeyStore:
    """`services.keys.WrappedKeyStore` on the customer table. Each replace is its own
    transaction and a compare-and-set: it changes the row only while it still holds exactly
    the wrapped key the rotation read, so a crash or a concurrent writer never loses a key."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def count_by_kek(self) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(sa.select(_C.kek_id, sa.func.count()).group_by(_C.kek_id))
            return {str(kek): int(n) for kek, n in rows}

    def batch_wrapped_by(
        self, kek_id: str, limit: int, after: str | None = None
    ) -> list[tuple[str, WrappedKey]]:
        query = sa.select(_C.id, _C.wrapped_key).where(_C.kek_id == kek_id)
        if after is not None:
            query = query.where(_C.id > after)
        with self._connect() as conn:
            rows = conn.execute(query.order_by(_C.id).limit(limit))
            return [(str(cid), WrappedKey(kek_id, bytes(blob))) for cid, blob in rows]

    def replace(self, customer_id: str, old: WrappedKey, new: WrappedKey) -> bool:
        with self._connect() as conn, conn.begin():
            result = conn.execute(
                t.customer.update()
                .where(
                    _C.id == customer_id,
                    _C.kek_id == old.kek_id,
                    _C.wrapped_key == old.blob,
                )
                .values(kek_id=new.kek_id, wrapped_key=new.blob)
            )
            return result.rowcount == 1

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc.orig.__class__.__name__}") from None


# The row mappings, for the provisioning store's bulk reads (adapters/db/provisioning_store.py).
sealed_customer = _customer
stored_service = _service
