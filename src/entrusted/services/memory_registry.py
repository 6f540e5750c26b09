"""In-memory twin of the registry's unit of work, for fast service tests. Same contract as
the SQL repositories: a transaction sees its own writes, commits all or nothing, and a
duplicate e-mail index or mailbox address is a Conflict.

```python
store = InMemoryRegistry()
uow = store.unit_of_work          # a RegistryUnitOfWorkFactory
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from entrusted.crypto.personal import SealedPendingEmail
from entrusted.domain.outbox import OutboxMessage
from entrusted.domain.registry import (
    ALREADY_HOSTED,
    ContractStatus,
    CustomerSession,
    Identification,
    IdentificationOutcome,
    SealedCustomer,
    ServiceKind,
    StoredContract,
    StoredService,
    Transfer,
)
from entrusted.errors import Conflict
from entrusted.services.memory import SnapshotStore, SnapshotUnitOfWork
from entrusted.services.memory_outbox import InMemoryOutbox

DUPLICATE_EMAIL = "a customer with this e-mail address is already registered"


@dataclass
class _State:
    customers: dict[str, SealedCustomer] = field(default_factory=dict)
    password_tokens: dict[str, tuple[bytes, datetime]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    contracts: dict[str, StoredContract] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)
    identifications: dict[str, tuple[Identification, bytes | None]] = field(default_factory=dict)
    sessions: dict[bytes, CustomerSession] = field(default_factory=dict)
    failures: list[tuple[str, str, datetime]] = field(default_factory=list)
    in_flight: dict[int, tuple[str, str, datetime]] = field(default_factory=dict)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)
    pending_emails: dict[str, SealedPendingEmail] = field(default_factory=dict)
    lookups: list[tuple[str, datetime]] = field(default_factory=list)
    ftp_passwords: dict[str, tuple[str, datetime]] = field(default_factory=dict)


class _Customers:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, customer: SealedCustomer) -> None:
        self.add_many([customer])

    def add_many(self, customers: Sequence[SealedCustomer]) -> None:
        taken = {c.email_idx for c in self._s.customers.values()}
        for c in customers:
            if c.email_idx in taken or c.id in self._s.customers:
                raise Conflict(DUPLICATE_EMAIL)
            taken.add(c.email_idx)
            self._s.customers[c.id] = c

    def get(self, customer_id: str) -> SealedCustomer | None:
        return self._s.customers.get(customer_id)

    def by_email_index(self, idx: bytes) -> SealedCustomer | None:
        return next((c for c in self._s.customers.values() if c.email_idx == idx), None)

    def by_phone_index(self, idx: bytes) -> list[SealedCustomer]:
        return sorted(
            (c for c in self._s.customers.values() if idx in (c.phone_idx, c.mobile_idx)),
            key=lambda c: c.id,
        )

    def emails_on_file(self, idxs: Sequence[bytes]) -> set[bytes]:
        return {c.email_idx for c in self._s.customers.values()} & set(idxs)

    def update(self, customer: SealedCustomer) -> None:
        other = self.by_email_index(customer.email_idx)
        if other is not None and other.id != customer.id:
            raise Conflict(DUPLICATE_EMAIL)
        self._s.customers[customer.id] = customer

    def set_password_token(
        self, customer_id: str, digest: bytes | None, expires_at: datetime | None
    ) -> None:
        if digest is None or expires_at is None:
            self._s.password_tokens.pop(customer_id, None)
        else:
            self._s.password_tokens[customer_id] = (digest, expires_at)

    def by_password_token(self, digest: bytes) -> tuple[SealedCustomer, datetime] | None:
        for cid, (stored, expires) in self._s.password_tokens.items():
            if stored == digest:
                return self._s.customers[cid], expires
        return None

    def set_password(self, customer_id: str, password_hash: str) -> None:
        self._s.passwords[customer_id] = password_hash
        self._s.password_tokens.pop(customer_id, None)

    def password_hash(self, customer_id: str) -> str | None:
        return self._s.passwords.get(customer_id)

    def set_pending_email(self, pending: SealedPendingEmail) -> None:
        self._s.pending_emails[pending.customer_id] = pending

    def pending_email(self, customer_id: str) -> SealedPendingEmail | None:
        return self._s.pending_emails.get(customer_id)

    def pending_email_by_token(self, digest: bytes) -> SealedPendingEmail | None:
        found = (p for p in self._s.pending_emails.values() if p.token_hash == digest)
        return next(found, None)

    def set_pending_email_token(self, customer_id: str, digest: bytes) -> None:
        pending = self._s.pending_emails[customer_id]
        self._s.pending_emails[customer_id] = replace(pending, token_hash=digest)

    def drop_pending_email(self, customer_id: str) -> None:
        self._s.pending_emails.pop(customer_id, None)


class _Contracts:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, contract: StoredContract) -> None:
        hosted = {
            svc.name_idx
            for c in self._s.contracts.values()
            for svc in c.services
            if svc.name_idx is not None
        }
        if any(svc.name_idx in hosted for svc in contract.services if svc.name_idx):
            raise Conflict(ALREADY_HOSTED)
        self._s.contracts[contract.id] = contract

    def get(self, contract_id: str) -> StoredContract | None:
        return self._s.contracts.get(contract_id)

    def for_holder(self, customer_id: str) -> list[StoredContract]:
        return sorted(
            (c for c in self._s.contracts.values() if c.holder_id == customer_id),
            key=lambda c: c.id,
        )

    def by_mailbox_index(self, idx: bytes) -> StoredContract | None:
        return next(
            (
                c
                for c in self._s.contracts.values()
                if any(svc.name_idx == idx for svc in c.services)
            ),
            None,
        )

    def move(self, contract_id: str, holder_id: str, services: Sequence[StoredService]) -> None:
        by_id = {s.id: s for s in services}
        old = self._s.contracts[contract_id]
        kept = tuple(by_id.get(s.id, s) for s in old.services)
        self._s.contracts[contract_id] = replace(old, holder_id=holder_id, services=kept)

    def cancel(self, contract_id: str, at: datetime) -> None:
        old = self._s.contracts[contract_id]
        self._s.contracts[contract_id] = replace(
            old, status=ContractStatus.CANCELLED, cancelled_at=at
        )

    def add_transfer(self, transfer: Transfer) -> None:
        self._s.transfers.append(transfer)

    def transfers_for(self, customer_id: str) -> list[Transfer]:
        return [t for t in self._s.transfers if customer_id in (t.from_customer, t.to_customer)]


class _Identifications:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, identification: Identification, code_digest: bytes | None) -> None:
        self._s.identifications[identification.id] = (identification, code_digest)

    def get(self, identification_id: str) -> Identification | None:
        found = self._s.identifications.get(identification_id)
        return None if found is None else found[0]

    def code_digest(self, identification_id: str) -> bytes | None:
        found = self._s.identifications.get(identification_id)
        return None if found is None else found[1]

    def update(self, identification: Identification) -> None:
        _, digest = self._s.identifications[identification.id]
        self._s.identifications[identification.id] = (identification, digest)

    def verified_since(self, customer_id: str, since: datetime) -> list[Identification]:
        return [
            i
            for i, _ in self._s.identifications.values()
            if i.customer_id == customer_id
            and i.outcome is IdentificationOutcome.VERIFIED
            and i.completed_at is not None
            and i.completed_at >= since
        ]

    def for_customer(self, customer_id: str) -> list[Identification]:
        return [i for i, _ in self._s.identifications.values() if i.customer_id == customer_id]


class _Sessions:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, session: CustomerSession, digest: bytes) -> None:
        self._s.sessions[digest] = session

    def by_digest(self, digest: bytes) -> CustomerSession | None:
        return self._s.sessions.get(digest)

    def revoke_all_for_customer(self, customer_id: str, at: datetime) -> int:
        live = {
            d: s
            for d, s in self._s.sessions.items()
            if s.customer_id == customer_id and s.revoked_at is None
        }
        for digest, session in live.items():
            self._s.sessions[digest] = replace(session, revoked_at=at)
        return len(live)

    def revoke_digest(self, digest: bytes, at: datetime) -> bool:
        session = self._s.sessions.get(digest)
        if session is None or session.revoked_at is not None:
            return False
        self._s.sessions[digest] = replace(session, revoked_at=at)
        return True


class _Failures:
    def __init__(self, s: _State) -> None:
        self._s = s

    def hold(self, account: str, address: str) -> None:
        """Nothing to wait for: the twin's units are not run concurrently."""

    def record(self, account: str, address: str, at: datetime) -> None:
        self._s.failures.append((account, address, at))

    def begin(self, account: str, address: str, at: datetime) -> int:
        attempt_id = max(self._s.in_flight, default=0) + 1
        self._s.in_flight[attempt_id] = (account, address, at)
        return attempt_id

    def settle(self, attempt_id: int) -> None:
        self._s.failures.append(self._s.in_flight.pop(attempt_id))

    def drop(self, attempt_id: int) -> None:
        self._s.in_flight.pop(attempt_id, None)

    def _all(self) -> list[tuple[str, str, datetime]]:
        return self._s.failures + list(self._s.in_flight.values())

    def count_for_account(self, account: str, since: datetime) -> int:
        return sum(1 for a, _, at in self._all() if a == account and at >= since)

    def count_for_address(self, address: str, since: datetime) -> int:
        return sum(1 for _, a, at in self._all() if a == address and at >= since)

    def in_flight(self, account: str, address: str, since: datetime) -> int:
        return sum(
            1
            for a, d, at in self._s.in_flight.values()
            if (a == account or d == address) and at >= since
        )

    def clear_account(self, account: str) -> None:
        self._s.failures = [f for f in self._s.failures if f[0] != account]


class _Lookups:
    def __init__(self, s: _State) -> None:
        self._s = s

    def hold(self, staff_id: str) -> None:
        """Nothing to wait for: the twin's units are not run concurrently."""

    def add(self, staff_id: str, at: datetime) -> None:
        self._s.lookups.append((staff_id, at))

    def since(self, staff_id: str, since: datetime) -> list[datetime]:
        return sorted(at for s, at in self._s.lookups if s == staff_id and at > since)

    def prune(self, staff_id: str, until: datetime) -> None:
        self._s.lookups = [(s, at) for s, at in self._s.lookups if s != staff_id or at > until]


class _FtpPasswords:
    def __init__(self, s: _State) -> None:
        self._s = s

    def contract_of(self, service_id: str) -> str | None:
        return next(
            (
                c.id
                for c in self._s.contracts.values()
                for svc in c.services
                if svc.id == service_id and svc.kind is ServiceKind.FTP_SPACE
            ),
            None,
        )

    def get(self, service_id: str) -> str | None:
        found = self._s.ftp_passwords.get(service_id)
        return None if found is None else found[0]

    def set(self, service_id: str, password_hash: str, at: datetime) -> None:
        self._s.ftp_passwords[service_id] = (password_hash, at)

    def clear(self, service_ids: Sequence[str]) -> int:
        return sum(self._s.ftp_passwords.pop(i, None) is not None for i in service_ids)


class InMemoryRegistryUnitOfWork(SnapshotUnitOfWork[_State]):
    def _bind(self, state: _State) -> None:
        self.customers = _Customers(state)
        self.contracts = _Contracts(state)
        self.identifications = _Identifications(state)
        self.customer_sessions = _Sessions(state)
        self.login_failures = _Failures(state)
        self.outbox = InMemoryOutbox(state.outbox)
        self.lookups = _Lookups(state)
        self.ftp_passwords = _FtpPasswords(state)


class InMemoryRegistry(SnapshotStore[_State]):
    def __init__(self) -> None:
        super().__init__(_State())

    def unit_of_work(self) -> InMemoryRegistryUnitOfWork:
        return InMemoryRegistryUnitOfWork(self)
