"""Request and response bodies shared by the registry's routers (customers, contracts,
identifications)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from entrusted.domain.registry import ContractView, CustomerSummary, Identification
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.registry_forms import Registration, ServiceRequest


class ServiceIn(StrictIn):
    kind: str = Field(max_length=16, description="mailbox, ftp_space or website")
    name: str = Field(min_length=1, max_length=254, description="address, account or host")


class RegistrationIn(StrictIn):
    last_name: str = Field(max_length=200)
    first_name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    mobile: str | None = Field(default=None, max_length=40)
    services: list[ServiceIn] = Field(default_factory=list, max_length=50)
    language: str | None = Field(default=None, max_length=8, description="en, fr, de or it")
    time_zone: str | None = Field(default=None, max_length=64, description="IANA name")

    def form(self) -> Registration:
        return Registration(
            self.last_name,
            self.first_name,
            self.email,
            self.phone,
            self.mobile,
            tuple(ServiceRequest(s.kind, s.name) for s in self.services),
            self.language,
            self.time_zone,
        )


class HostedServiceOut(BaseModel):
    id: str
    kind: str
    name: str


class ContractOut(BaseModel):
    id: str
    holder_id: str
    status: str
    created_at: datetime
    cancelled_at: datetime | None
    services: list[HostedServiceOut]

    @classmethod
    def of(cls, view: ContractView) -> ContractOut:
        return cls(
            id=view.id,
            holder_id=view.holder_id,
            status=view.status.value,
            created_at=view.created_at,
            cancelled_at=view.cancelled_at,
            services=[
                HostedServiceOut(id=s.id, kind=s.kind.value, name=s.name) for s in view.services
            ],
        )


class SummaryOut(BaseModel):
    """What support sees to identify a caller: names and contracts only."""

    id: str
    last_name: str
    first_name: str
    contracts: list[ContractOut]

    @classmethod
    def of(cls, summary: CustomerSummary) -> SummaryOut:
        return cls(
            id=summary.id,
            last_name=summary.last_name,
            first_name=summary.first_name,
            contracts=[ContractOut.of(c) for c in summary.contracts],
        )


class IdentificationOut(BaseModel):
    id: str
    customer_id: str
    method: str
    outcome: str
    attempts: int
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    contract_id: str | None
    case_id: str | None

    @classmethod
    def of(cls, i: Identification, now: datetime) -> IdentificationOut:
        return cls(
            id=i.id,
            customer_id=i.customer_id,
            method=i.method.value,
            outcome=i.state_at(now).value,
            attempts=i.attempts,
            created_at=i.created_at,
            expires_at=i.expires_at,
            completed_at=i.completed_at,
            contract_id=i.contract_id,
            case_id=i.case_id,
        )
