"""SQL repositories of support cases and consent (P9, P10, P11): cases, access requests,
verbal consents, grants and grant sessions. Tokens are stored as SHA-256 digests only.

The state changes that two requests could race on (answering a request, consuming or ending
a grant, closing a session) are conditional UPDATEs whose row count says who won, so the
database, not the service, decides that a single-use grant is used once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from entrusted.adapters.db import tables as t
from entrusted.domain.cases import (
    AccessRequest,
    Case,
    CaseStatus,
    Grant,
    GrantEnd,
    GrantOrigin,
    GrantSession,
    RequestStatus,
    VerbalConsent,
)
from entrusted.domain.registry import ServiceKind
from entrusted.errors import Conflict

_CASE, _REQ, _GRANT = t.support_case.c, t.access_request.c, t.consent_grant.c
# The gate's `active_grant` look-up, built once: it runs for every mailbox read the rules
# consider, and building the expression cost more than the query.
# The open grants of one staff member, service and case (the gate's probe asks the same).
MATCHING_GRANTS = (
    sa.select(t.consent_grant)
    .where(
        _GRANT.staff_id == sa.bindparam("staff_id"),
        _GRANT.service_id == sa.bindparam("service_id"),
        _GRANT.case_id == sa.bindparam("case_id"),
        _GRANT.ended_at.is_(None),
    )
    .order_by(_GRANT.created_at, _GRANT.id)
)
_CONSENT, _SESSION = t.verbal_consent.c, t.grant_session.c
# Reads every staff login makes, built once with bound parameters (see MATCHING_GRANTS).
_GRANTS = sa.select(t.consent_grant).order_by(_GRANT.created_at, _GRANT.id)
_GRANT_BY_ID = _GRANTS.where(_GRANT.id == sa.bindparam("v"))
_OPEN_GRANTS_OF_CONTRACT = _GRANTS.where(
    _GRANT.contract_id == sa.bindparam("v"), _GRANT.ended_at.is_(None)
)
_CASES = sa.select(t.support_case).order_by(_CASE.opened_at.desc(), _CASE.id)
_CASES_BY_STATUS_AND_CUSTOMER = _CASES.where(
    _CASE.status == sa.bindparam("status"), _CASE.customer_id == sa.bindparam("customer")
).limit(sa.bindparam("limit"))


def _case(row: sa.RowMapping) -> Case:
    return Case(
        id=row["id"],
        customer_id=row["customer_id"],
        contract_id=row["contract_id"],
        subject=row["subject"],
        status=CaseStatus(row["status"]),
        opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        reopened_from=row["reopened_from"],
        flagged_at=row["flagged_at"],
        flag_reason=row["flag_reason"],
    )


def _case_values(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "customer_id": case.customer_id,
        "contract_id": case.contract_id,
        "subject": case.subject,
        "status": case.status.value,
        "opened_at": case.opened_at,
        "opened_by": case.opened_by,
        "resolved_at": case.resolved_at,
        "resolved_by": case.resolved_by,
        "reopened_from": case.reopened_from,
        "flagged_at": case.flagged_at,
        "flag_reason": case.flag_reason,
    }


class SqlCaseRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, case: Case) -> None:
        self._conn.execute(t.support_case.insert().values(**_case_values(case)))

    def get(self, case_id: str) -> Case | None:
        row = (
            self._conn.execute(sa.select(t.support_case).where(_CASE.id == case_id))
            .mappings()
            .first()
        )
        return None if row is None else _case(row)

    def update(self, case: Case) -> None:
        values = _case_values(case)
        del values["id"]
        self._conn.execute(t.support_case.update().where(_CASE.id == case.id).values(**values))

    def find(self, status: CaseStatus | None, customer_id: str | None, limit: int) -> list[Case]:
        if status is not None and customer_id is not None:  # a staff login's question
            params = {"status": status.value, "customer": customer_id, "limit": limit}
            found = self._conn.execute(_CASES_BY_STATUS_AND_CUSTOMER, params)
            return [_case(r) for r in found.mappings()]
        query = _CASES.limit(limit)
        if status is not None:
            query = query.where(_CASE.status == status.value)
        if customer_id is not None:
            query = query.where(_CASE.customer_id == customer_id)
        return [_case(r) for r in self._conn.execute(query).mappings()]


def _request(row: sa.RowMapping) -> AccessRequest:
    return AccessRequest(
        id=row["id"],
        case_id=row["case_id"],
        customer_id=row["customer_id"],
        contract_id=row["contract_id"],
        service_id=row["service_id"],
        service_kind=ServiceKind(row["service_kind"]),
        staff_id=row["staff_id"],
        justification=row["justification"],
        read_only=bool(row["read_only"]),
        sessions=int(row["sessions"]),
        status=RequestStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        answered_at=row["answered_at"],
        answered_by=row["answered_by"],
        grant_id=row["grant_id"],
    )


class SqlAccessRequestRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, request: AccessRequest, link_digest: bytes) -> None:
        r = request
        self._conn.execute(
            t.access_request.insert().values(
                id=r.id,
                case_id=r.case_id,
                customer_id=r.customer_id,
                contract_id=r.contract_id,
                service_id=r.service_id,
                service_kind=r.service_kind.value,
                staff_id=r.staff_id,
                justification=r.justification,
                read_only=r.read_only,
                sessions=r.sessions,
                status=r.status.value,
                created_at=r.created_at,
                expires_at=r.expires_at,
                link_hash=link_digest,
                answered_at=r.answered_at,
                answered_by=r.answered_by,
                grant_id=r.grant_id,
            )
        )

    def _where(self, *conditions: sa.ColumnElement[bool]) -> list[AccessRequest]:
        query = sa.select(t.access_request).where(*conditions).order_by(_REQ.created_at, _REQ.id)
        return [_request(r) for r in self._conn.execute(query).mappings()]

    def get(self, request_id: str) -> AccessRequest | None:
        found = self._where(_REQ.id == request_id)
        return found[0] if found else None

    def link_digest(self, request_id: str) -> bytes | None:
        value = self._conn.execute(
            sa.select(_REQ.link_hash).where(_REQ.id == request_id)
        ).scalar_one_or_none()
        return None if value is None else bytes(value)

    def for_case(self, case_id: str) -> list[AccessRequest]:
        return self._where(_REQ.case_id == case_id)

    def pending_for_contract(self, contract_id: str) -> list[AccessRequest]:
        return self._where(
            _REQ.contract_id == contract_id, _REQ.status == RequestStatus.PENDING.value
        )

    def pending_due(self, now: datetime) -> list[AccessRequest]:
        return self._where(_REQ.status == RequestStatus.PENDING.value, _REQ.expires_at <= now)

    def answer(
        self,
        request_id: str,
        status: RequestStatus,
        at: datetime,
        by: str,
        grant_id: str | None,
    ) -> bool:
        done = self._conn.execute(
            t.access_request.update()
            .where(_REQ.id == request_id, _REQ.status == RequestStatus.PENDING.value)
            .values(status=status.value, answered_at=at, answered_by=by, grant_id=grant_id)
        )
        return done.rowcount == 1


def _consent(row: sa.RowMapping) -> VerbalConsent:
    return VerbalConsent(
        id=row["id"],
        case_id=row["case_id"],
        customer_id=row["customer_id"],
        staff_id=row["staff_id"],
        identification_id=row["identification_id"],
        identification_method=row["identification_method"],
        scope=row["scope"],
        recorded_at=row["recorded_at"],
        grant_id=row["grant_id"],
        not_me_at=row["not_me_at"],
    )


class SqlConsentRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, consent: VerbalConsent, not_me_digest: bytes) -> None:
        c = consent
        if self._conn.execute(
            sa.select(t.verbal_consent.c.id).where(
                t.verbal_consent.c.identification_id == c.identification_id
            )
        ).first():
            raise Conflict(f"identification {c.identification_id} already gave a consent")
        try:
            self._insert_consent(c, not_me_digest)
        except sa.exc.IntegrityError:  # a concurrent request with the same identification won
            raise Conflict(
                f"identification {c.identification_id} already gave a consent"
            ) from None

    def _insert_consent(self, c: VerbalConsent, not_me_digest: bytes) -> None:
        self._conn.execute(
            t.verbal_consent.insert().values(
                id=c.id,
                case_id=c.case_id,
                customer_id=c.customer_id,
                staff_id=c.staff_id,
                identification_id=c.identification_id,
                identification_method=c.identification_method,
                scope=c.scope,
                recorded_at=c.recorded_at,
                grant_id=c.grant_id,
                not_me_hash=not_me_digest,
                not_me_at=c.not_me_at,
            )
        )

    def _one(self, where: sa.ColumnElement[bool]) -> VerbalConsent | None:
        row = self._conn.execute(sa.select(t.verbal_consent).where(where)).mappings().first()
        return None if row is None else _consent(row)

    def get(self, consent_id: str) -> VerbalConsent | None:
        return self._one(_CONSENT.id == consent_id)

    def by_not_me_digest(self, digest: bytes) -> VerbalConsent | None:
        return self._one(_CONSENT.not_me_hash == digest)

    def mark_not_me(self, consent_id: str, at: datetime) -> bool:
        done = self._conn.execute(
            t.verbal_consent.update()
            .where(_CONSENT.id == consent_id, _CONSENT.not_me_at.is_(None))
            .values(not_me_at=at)
        )
        return done.rowcount == 1

    def for_case(self, case_id: str) -> list[VerbalConsent]:
        rows = self._conn.execute(
            sa.select(t.verbal_consent)
            .where(_CONSENT.case_id == case_id)
            .order_by(_CONSENT.recorded_at, _CONSENT.id)
        ).mappings()
        return [_consent(r) for r in rows]


def _grant(row: sa.RowMapping) -> Grant:
    reason = row["end_reason"]
    return Grant(
        id=row["id"],
        case_id=row["case_id"],
        customer_id=row["customer_id"],
        contract_id=row["contract_id"],
        service_id=row["service_id"],
        service_kind=ServiceKind(row["service_kind"]),
        staff_id=row["staff_id"],
        read_only=bool(row["read_only"]),
        max_sessions=int(row["max_sessions"]),
        origin=GrantOrigin(row["origin"]),
        source_id=row["source_id"],
        approved_by=row["approved_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        sessions_used=int(row["sessions_used"]),
        first_used_at=row["first_used_at"],
        ended_at=row["ended_at"],
        end_reason=None if reason is None else GrantEnd(reason),
        ended_by=row["ended_by"],
        policy_version=row["policy_version"],
    )


def _session(row: sa.RowMapping) -> GrantSession:
    return GrantSession(
        id=row["id"],
        grant_id=row["grant_id"],
        staff_id=row["staff_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


class SqlGrantRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn

    def add(self, grant: Grant) -> None:
        g = grant
        self._conn.execute(
            t.consent_grant.insert().values(
                id=g.id,
                case_id=g.case_id,
                customer_id=g.customer_id,
                contract_id=g.contract_id,
                service_id=g.service_id,
                service_kind=g.service_kind.value,
                staff_id=g.staff_id,
                read_only=g.read_only,
                max_sessions=g.max_sessions,
                sessions_used=g.sessions_used,
                origin=g.origin.value,
                source_id=g.source_id,
                approved_by=g.approved_by,
                created_at=g.created_at,
                expires_at=g.expires_at,
                first_used_at=g.first_used_at,
                ended_at=g.ended_at,
                end_reason=None if g.end_reason is None else g.end_reason.value,
                ended_by=g.ended_by,
                policy_version=g.policy_version,
            )
        )

    def _where(self, *conditions: sa.ColumnElement[bool]) -> list[Grant]:
        query = sa.select(t.consent_grant).where(*conditions).order_by(_GRANT.created_at, _GRANT.id)
        return [_grant(r) for r in self._conn.execute(query).mappings()]

    def get(self, grant_id: str) -> Grant | None:
        found = self._conn.execute(_GRANT_BY_ID, {"v": grant_id}).mappings()
        return next((_grant(r) for r in found), None)

    def for_case(self, case_id: str) -> list[Grant]:
        return self._where(_GRANT.case_id == case_id)

    def matching(self, staff_id: str, service_id: str, case_id: str) -> list[Grant]:
        params = {"staff_id": staff_id, "service_id": service_id, "case_id": case_id}
        return [_grant(r) for r in self._conn.execute(MATCHING_GRANTS, params).mappings()]

    def active(self) -> list[Grant]:
        return self._where(_GRANT.ended_at.is_(None))

    def active_for_contract(self, contract_id: str) -> list[Grant]:
        found = self._conn.execute(_OPEN_GRANTS_OF_CONTRACT, {"v": contract_id})
        return [_grant(r) for r in found.mappings()]

    def consume(self, grant_id: str, at: datetime) -> bool:
        done = self._conn.execute(
            t.consent_grant.update()
            .where(
                _GRANT.id == grant_id,
                _GRANT.ended_at.is_(None),
                _GRANT.expires_at > at,
                _GRANT.sessions_used < _GRANT.max_sessions,
            )
            .values(
                sessions_used=_GRANT.sessions_used + 1,
                first_used_at=sa.func.coalesce(_GRANT.first_used_at, at),
            )
        )
        return done.rowcount == 1

    def end(self, grant_id: str, at: datetime, reason: GrantEnd, by: str) -> bool:
        done = self._conn.execute(
            t.consent_grant.update()
            .where(_GRANT.id == grant_id, _GRANT.ended_at.is_(None))
            .values(ended_at=at, end_reason=reason.value, ended_by=by)
        )
        return done.rowcount == 1

    def add_session(self, session: GrantSession) -> None:
        s = session
        self._conn.execute(
            t.grant_session.insert().values(
                id=s.id,
                grant_id=s.grant_id,
                staff_id=s.staff_id,
                started_at=s.started_at,
                ended_at=s.ended_at,
            )
        )

    def get_session(self, session_id: str) -> GrantSession | None:
        row = (
            self._conn.execute(sa.select(t.grant_session).where(_SESSION.id == session_id))
            .mappings()
            .first()
        )
        return None if row is None else _session(row)

    def open_sessions(self, grant_id: str) -> list[GrantSession]:
        rows = self._conn.execute(
            sa.select(t.grant_session)
            .where(_SESSION.grant_id == grant_id, _SESSION.ended_at.is_(None))
            .order_by(_SESSION.started_at, _SESSION.id)
        ).mappings()
        return [_session(r) for r in rows]

    def end_session(self, session_id: str, at: datetime) -> bool:
        done = self._conn.execute(
            t.grant_session.update()
            .where(_SESSION.id == session_id, _SESSION.ended_at.is_(None))
            .values(ended_at=at)
        )
        return done.rowcount == 1
