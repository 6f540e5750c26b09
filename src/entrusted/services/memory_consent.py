"""In-memory twin of the consent unit of work (cases, access requests, verbal consents,
grants and their sessions), for fast service tests. Same contract as the SQL repositories:
a transaction sees its own writes and commits all or nothing, and the conditional updates
(`answer`, `consume`, `end`, `end_session`) report whether they changed anything.

```python
store = InMemoryConsent()
uow = store.unit_of_work          # a ConsentUnitOfWorkFactory
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from entrusted.domain.cases import (
    AccessRequest,
    Case,
    CaseStatus,
    Grant,
    GrantEnd,
    GrantSession,
    RequestStatus,
    VerbalConsent,
)
from entrusted.domain.outbox import OutboxMessage
from entrusted.errors import Conflict
from entrusted.services.memory import SnapshotStore, SnapshotUnitOfWork
from entrusted.services.memory_outbox import InMemoryOutbox


@dataclass
class _State:
    cases: dict[str, Case] = field(default_factory=dict)
    requests: dict[str, tuple[AccessRequest, bytes]] = field(default_factory=dict)
    consents: dict[str, tuple[VerbalConsent, bytes]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    sessions: dict[str, GrantSession] = field(default_factory=dict)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)


def _unique(existing: object, what: str) -> None:
    if existing is not None:
        raise Conflict(f"{what} already exists")


class _Cases:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, case: Case) -> None:
        _unique(self._s.cases.get(case.id), f"case {case.id}")
        self._s.cases[case.id] = case

    def get(self, case_id: str) -> Case | None:
        return self._s.cases.get(case_id)

    def update(self, case: Case) -> None:
        self._s.cases[case.id] = case

    def find(self, status: CaseStatus | None, customer_id: str | None, limit: int) -> list[Case]:
        found = [
            c
            for c in self._s.cases.values()
            if (status is None or c.status is status)
            and (customer_id is None or c.customer_id == customer_id)
        ]
        found.sort(key=lambda c: c.id)
        found.sort(key=lambda c: c.opened_at, reverse=True)
        return found[:limit]


class _Requests:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, request: AccessRequest, link_digest: bytes) -> None:
        _unique(self._s.requests.get(request.id), f"access request {request.id}")
        if any(d == link_digest for _, d in self._s.requests.values()):
            raise Conflict("duplicate link")
        self._s.requests[request.id] = (request, link_digest)

    def _all(self) -> list[AccessRequest]:
        return sorted((r for r, _ in self._s.requests.values()), key=lambda r: (r.created_at, r.id))

    def get(self, request_id: str) -> AccessRequest | None:
        found = self._s.requests.get(request_id)
        return None if found is None else found[0]

    def link_digest(self, request_id: str) -> bytes | None:
        found = self._s.requests.get(request_id)
        return None if found is None else found[1]

    def for_case(self, case_id: str) -> list[AccessRequest]:
        return [r for r in self._all() if r.case_id == case_id]

    def pending_for_contract(self, contract_id: str) -> list[AccessRequest]:
        return [
            r
            for r in self._all()
            if r.contract_id == contract_id and r.status is RequestStatus.PENDING
        ]

    def pending_due(self, now: datetime) -> list[AccessRequest]:
        return [r for r in self._all() if r.status is RequestStatus.PENDING and r.expires_at <= now]

    def answer(
        self,
        request_id: str,
        status: RequestStatus,
        at: datetime,
        by: str,
        grant_id: str | None,
    ) -> bool:
        found = self._s.requests.get(request_id)
        if found is None or found[0].status is not RequestStatus.PENDING:
            return False
        request, digest = found
        answered = replace(request, status=status, answered_at=at, answered_by=by)
        self._s.requests[request_id] = (replace(answered, grant_id=grant_id), digest)
        return True


class _Consents:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, consent: VerbalConsent, not_me_digest: bytes) -> None:
        _unique(self._s.consents.get(consent.id), f"consent {consent.id}")
        if consent.grant_id not in self._s.grants:
            raise Conflict(f"grant {consent.grant_id} does not exist")
        ident = consent.identification_id
        if any(c.identification_id == ident for c, _ in self._s.consents.values()):
            raise Conflict(f"identification {consent.identification_id} already gave a consent")
        self._s.consents[consent.id] = (consent, not_me_digest)

    def get(self, consent_id: str) -> VerbalConsent | None:
        found = self._s.consents.get(consent_id)
        return None if found is None else found[0]

    def by_not_me_digest(self, digest: bytes) -> VerbalConsent | None:
        return next((c for c, d in self._s.consents.values() if d == digest), None)

    def mark_not_me(self, consent_id: str, at: datetime) -> bool:
        consent, digest = self._s.consents[consent_id]
        if consent.not_me_at is not None:
            return False
        self._s.consents[consent_id] = (replace(consent, not_me_at=at), digest)
        return True

    def for_case(self, case_id: str) -> list[VerbalConsent]:
        found = [c for c, _ in self._s.consents.values() if c.case_id == case_id]
        return sorted(found, key=lambda c: (c.recorded_at, c.id))


class _Grants:
    def __init__(self, s: _State) -> None:
        self._s = s

    def add(self, grant: Grant) -> None:
        _unique(self._s.grants.get(grant.id), f"grant {grant.id}")
        self._s.grants[grant.id] = grant

    def _all(self) -> list[Grant]:
        return sorted(self._s.grants.values(), key=lambda g: (g.created_at, g.id))

    def get(self, grant_id: str) -> Grant | None:
        return self._s.grants.get(grant_id)

    def for_case(self, case_id: str) -> list[Grant]:
        return [g for g in self._all() if g.case_id == case_id]

    def matching(self, staff_id: str, service_id: str, case_id: str) -> list[Grant]:
        return [
            g
            for g in self._all()
            if (g.staff_id, g.service_id, g.case_id) == (staff_id, service_id, case_id)
            and g.ended_at is None
        ]

    def active(self) -> list[Grant]:
        return [g for g in self._all() if g.ended_at is None]

    def active_for_contract(self, contract_id: str) -> list[Grant]:
        return [g for g in self.active() if g.contract_id == contract_id]

    def consume(self, grant_id: str, at: datetime) -> bool:
        g = self._s.grants.get(grant_id)
        if g is None or g.ended_at is not None or g.expires_at <= at or g.spent:
            return False
        first = g.first_used_at or at
        self._s.grants[grant_id] = replace(
            g, sessions_used=g.sessions_used + 1, first_used_at=first
        )
        return True

    def end(self, grant_id: str, at: datetime, reason: GrantEnd, by: str) -> bool:
        g = self._s.grants.get(grant_id)
        if g is None or g.ended_at is not None:
            return False
        self._s.grants[grant_id] = replace(g, ended_at=at, end_reason=reason, ended_by=by)
        return True

    def add_session(self, session: GrantSession) -> None:
        _unique(self._s.sessions.get(session.id), f"session {session.id}")
        self._s.sessions[session.id] = session

    def get_session(self, session_id: str) -> GrantSession | None:
        return self._s.sessions.get(session_id)

    def open_sessions(self, grant_id: str) -> list[GrantSession]:
        found = [
            s for s in self._s.sessions.values() if s.grant_id == grant_id and s.ended_at is None
        ]
        return sorted(found, key=lambda s: (s.started_at, s.id))

    def end_session(self, session_id: str, at: datetime) -> bool:
        s = self._s.sessions.get(session_id)
        if s is None or s.ended_at is not None:
            return False
        self._s.sessions[session_id] = replace(s, ended_at=at)
        return True


class InMemoryConsentUnitOfWork(SnapshotUnitOfWork[_State]):
    def _bind(self, state: _State) -> None:
        self.cases = _Cases(state)
        self.access_requests = _Requests(state)
        self.consents = _Consents(state)
        self.grants = _Grants(state)
        self.outbox = InMemoryOutbox(state.outbox)


class InMemoryConsent(SnapshotStore[_State]):
    def __init__(self) -> None:
        super().__init__(_State())

    def unit_of_work(self) -> InMemoryConsentUnitOfWork:
        return InMemoryConsentUnitOfWork(self)
