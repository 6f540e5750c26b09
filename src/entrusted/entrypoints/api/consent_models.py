"""Response bodies shared by the consent routers (cases, access requests, grants). They carry
ids, states and dates; a hosted service is named by its id, as in the ledger."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from entrusted.domain.cases import AccessRequest, Case, Grant, GrantSession, VerbalConsent
from entrusted.entrypoints.api.registry_models import IdentificationOut
from entrusted.services.cases import CaseView


class CaseOut(BaseModel):
    id: str
    customer_id: str
    contract_id: str
    subject: str
    status: str
    opened_at: datetime
    opened_by: str
    resolved_at: datetime | None
    resolved_by: str | None
    reopened_from: str | None
    flagged_at: datetime | None
    flag_reason: str | None

    @classmethod
    def of(cls, case: Case) -> CaseOut:
        return cls(
            id=case.id,
            customer_id=case.customer_id,
            contract_id=case.contract_id,
            subject=case.subject,
            status=case.status.value,
            opened_at=case.opened_at,
            opened_by=case.opened_by,
            resolved_at=case.resolved_at,
            resolved_by=case.resolved_by,
            reopened_from=case.reopened_from,
            flagged_at=case.flagged_at,
            flag_reason=case.flag_reason,
        )


class AccessRequestOut(BaseModel):
    id: str
    case_id: str
    customer_id: str
    contract_id: str
    service_id: str
    service_kind: str
    staff_id: str
    justification: str
    read_only: bool
    sessions: int
    status: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    answered_by: str | None
    grant_id: str | None

    @classmethod
    def of(cls, r: AccessRequest, now: datetime) -> AccessRequestOut:
        return cls(
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
            status=r.state_at(now).value,
            created_at=r.created_at,
            expires_at=r.expires_at,
            answered_at=r.answered_at,
            answered_by=r.answered_by,
            grant_id=r.grant_id,
        )


class GrantOut(BaseModel):
    id: str
    case_id: str
    customer_id: str
    contract_id: str
    service_id: str
    service_kind: str
    staff_id: str
    read_only: bool
    max_sessions: int
    sessions_used: int
    origin: str
    source_id: str
    approved_by: str
    created_at: datetime
    expires_at: datetime
    first_used_at: datetime | None
    active: bool
    ended_at: datetime | None
    end_reason: str | None
    ended_by: str | None

    @classmethod
    def of(cls, g: Grant, now: datetime) -> GrantOut:
        return cls(
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
            active=g.active_at(now),
            ended_at=g.ended_at,
            end_reason=None if g.end_reason is None else g.end_reason.value,
            ended_by=g.ended_by,
        )


class SessionOut(BaseModel):
    id: str
    grant_id: str
    staff_id: str
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, s: GrantSession) -> SessionOut:
        return cls(
            id=s.id,
            grant_id=s.grant_id,
            staff_id=s.staff_id,
            started_at=s.started_at,
            ended_at=s.ended_at,
        )


class VerbalConsentOut(BaseModel):
    id: str
    case_id: str
    customer_id: str
    staff_id: str
    identification_id: str
    identification_method: str
    scope: str
    recorded_at: datetime
    grant_id: str
    not_me_at: datetime | None

    @classmethod
    def of(cls, v: VerbalConsent) -> VerbalConsentOut:
        return cls(
            id=v.id,
            case_id=v.case_id,
            customer_id=v.customer_id,
            staff_id=v.staff_id,
            identification_id=v.identification_id,
            identification_method=v.identification_method,
            scope=v.scope,
            recorded_at=v.recorded_at,
            grant_id=v.grant_id,
            not_me_at=v.not_me_at,
        )


class CaseDetailOut(CaseOut):
    identifications: list[IdentificationOut]
    access_requests: list[AccessRequestOut]
    grants: list[GrantOut]
    verbal_consents: list[VerbalConsentOut]

    @classmethod
    def of_view(cls, view: CaseView, now: datetime) -> CaseDetailOut:
        return cls(
            **CaseOut.of(view.case).model_dump(),
            identifications=[IdentificationOut.of(i, now) for i in view.identifications],
            access_requests=[AccessRequestOut.of(r, now) for r in view.requests],
            grants=[GrantOut.of(g, now) for g in view.grants],
            verbal_consents=[VerbalConsentOut.of(v) for v in view.consents],
        )
