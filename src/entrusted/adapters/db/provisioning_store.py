"""The hoster's ids and hosted-service changes in SQL (issue 17, migration 0020).

Two syncs of the same external id at once: the writing unit first takes a transaction
advisory lock per external id on PostgreSQL (`serialise`; SQLite's `BEGIN IMMEDIATE` already
lets one writer in at a time), so the second re-plans on what the first committed. A unique
key violated anyway (an id the batch did not name, raced some other way) is a `Conflict`,
never a raw driver error."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from entrusted.adapters.db import tables as t
from entrusted.adapters.db.engine import is_sqlite
from entrusted.adapters.db.locks import hold_xact_lock
from entrusted.adapters.db.registry_store import sealed_customer, stored_service
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.domain.registry import (
    ALREADY_HOSTED,
    ContractStatus,
    SealedCustomer,
    StoredContract,
    StoredService,
)
from entrusted.errors import Conflict
from entrusted.services.provisioning_ports import CHANGED, ProvisioningRepository

_CHUNK = 500


class SqlProvisioningRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def customers_for(self, number_idxs: Sequence[bytes]) -> dict[bytes, str]:
        c = t.provisioned_customer.c
        rows = self._chunked(sa.select(c.number_idx, c.customer_id), c.number_idx, number_idxs)
        return {bytes(idx): cid for idx, cid in rows}

    def contracts_for(self, external_ids: Sequence[str]) -> dict[str, str]:
        c = t.provisioned_contract.c
        return dict(
            self._chunked(sa.select(c.external_id, c.contract_id), c.external_id, external_ids)
        )

    def services_for(self, contract_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        c = t.provisioned_service.c
        query = sa.select(c.contract_id, c.external_id, c.service_id)
        return {
            (ctr, ext): sid for ctr, ext, sid in self._chunked(query, c.contract_id, contract_ids)
        }

    def customers(self, customer_ids: Sequence[str]) -> dict[str, SealedCustomer]:
        found = self._chunked(sa.select(t.customer), t.customer.c.id, customer_ids, mapped=True)
        return {row["id"]: sealed_customer(row) for row in found}

    def contracts(self, contract_ids: Sequence[str]) -> dict[str, StoredContract]:
        rows = self._chunked(sa.select(t.contract), t.contract.c.id, contract_ids, mapped=True)
        hs = t.hosted_service.c
        listed = sa.select(t.hosted_service).where(hs.removed_at.is_(None)).order_by(hs.id)
        services: dict[str, list[StoredService]] = {}
        for s in self._chunked(listed, hs.contract_id, contract_ids, mapped=True):
            services.setdefault(s["contract_id"], []).append(stored_service(s))
        return {
            r["id"]: StoredContract(
                r["id"], r["holder_id"], ContractStatus(r["status"]), r["created_at"],
                r["cancelled_at"], tuple(services.get(r["id"], ())),
            )
            for r in rows
        }  # fmt: skip

    def emails_held(self, email_idxs: Sequence[bytes]) -> dict[bytes, str]:
        c = t.customer.c
        rows = self._chunked(sa.select(c.email_idx, c.id), c.email_idx, email_idxs)
        return {bytes(idx): cid for idx, cid in rows}

    def names_hosted(self, name_idxs: Sequence[bytes]) -> dict[bytes, str]:
        c = t.hosted_service.c
        rows = self._chunked(sa.select(c.name_idx, c.id), c.name_idx, name_idxs)
        return {bytes(idx): sid for idx, sid in rows}

    def _chunked(
        self,
        query: sa.Select[Any],
        column: sa.ColumnElement[Any],
        keys: Sequence[Any],
        mapped: bool = False,
    ) -> list[Any]:
        """`query` for rows whose `column` is one of `keys`, a few hundred keys at a time
        (every driver's parameter limit is far above that)."""
        out: list[Any] = []
        for start in range(0, len(keys), _CHUNK):
            result = self._conn.execute(query.where(column.in_(list(keys[start : start + _CHUNK]))))
            out += list(result.mappings()) if mapped else [tuple(r) for r in result]
        return out

    def serialise(self, keys: Sequence[str]) -> None:
        """Hold, until this transaction ends, one advisory lock per key (sorted, so two
        batches naming the same ids cannot each wait for the other). SQLite: nothing to do,
        the writing unit holds the database's one write lock since BEGIN."""
        if is_sqlite(self._conn.engine):
            return
        for key in sorted(set(keys)):
            hold_xact_lock(self._conn, f"provisioning:{key}")

    def _insert(self, statement: sa.Insert) -> None:
        try:
            self._conn.execute(statement)
        except IntegrityError:
            raise Conflict(CHANGED) from None

    def link_customer(self, number_idx: bytes, customer_id: str) -> None:
        self._insert(
            t.provisioned_customer.insert().values(number_idx=number_idx, customer_id=customer_id)
        )

    def link_contract(self, external_id: str, contract_id: str) -> None:
        self._insert(
            t.provisioned_contract.insert().values(external_id=external_id, contract_id=contract_id)
        )

    def add_service(self, service: StoredService, external_id: str) -> None:
        try:
            self._conn.execute(
                t.hosted_service.insert().values(
                    id=service.id,
                    contract_id=service.contract_id,
                    kind=service.kind.value,
                    name=service.name,
                    name_idx=service.name_idx,
                )
            )
        except IntegrityError:
            raise Conflict(ALREADY_HOSTED) from None
        self._insert(
            t.provisioned_service.insert().values(
                contract_id=service.contract_id, external_id=external_id, service_id=service.id
            )
        )

    def rename_service(self, service: StoredService) -> None:
        try:
            self._conn.execute(
                t.hosted_service.update()
                .where(t.hosted_service.c.id == service.id)
                .values(name=service.name, name_idx=service.name_idx)
            )
        except IntegrityError:
            raise Conflict(ALREADY_HOSTED) from None

    def remove_service(self, service_id: str, at: datetime) -> None:
        """Unlist the service; the row stays for the grants naming it, and so does its name
        index: the name stays taken, because the service's stored data (a Maildir, an FTP
        space, found by name) is not destroyed by a removal, and whoever hosted the name next
        would be handed the previous holder's files (P9, P16; issue 17 trial finding)."""
        self._conn.execute(
            t.provisioned_service.delete().where(t.provisioned_service.c.service_id == service_id)
        )
        self._conn.execute(
            t.hosted_service.update()
            .where(t.hosted_service.c.id == service_id)
            .values(removed_at=at)
        )


class SqlProvisioningUnitOfWork(SqlUnitOfWork):
    """`SqlUnitOfWork` with `provisioning` bound to the same transaction."""

    def __enter__(self) -> Self:
        super().__enter__()
        self.provisioning: ProvisioningRepository = SqlProvisioningRepository(self.connection)
        return self
