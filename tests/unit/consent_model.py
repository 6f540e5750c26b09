"""The environment the consent state machine drives (`Env`: the in-memory world or the SQL
container behind one interface) and the machine's own model of contracts, cases, requests
and grants, kept independently of the services under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from entrusted.domain.policy import Actor
from entrusted.services.memory_mail import InMemoryMailer
from entrusted.services.registry_forms import ServiceRequest
from tests.conftest import FakeClock
from tests.unit.registry_world import SIGNUP, People


@dataclass
class Env:
    """The services under test, however they were built."""

    services: Any  # a ConsentWorld or a Container: same attribute names but `verbal`
    verbal: Any
    clock: FakeClock
    mailer: InMemoryMailer
    staff: tuple[Actor, Actor]
    people: People
    contract_services: Callable[[str], dict[str, str]]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.services, name)

    def holder(self) -> tuple[str, str, dict[str, str]]:
        n = self.people.n + 1
        form = self.people.form(
            services=(
                ServiceRequest("mailbox", f"m{n}.{id(self) % 9999}@example.org"),
                ServiceRequest("ftp_space", f"f{n}x{id(self) % 9999}"),
            )
        )
        done = self.services.registry.register(SIGNUP, form)
        return done.customer_id, done.contract_id, self.contract_services(done.contract_id)

    def identify(self, staff: Actor, customer_id: str, case_id: str | None) -> None:
        started = self.services.identification.start(
            staff, customer_id, "email_code", case_id=case_id
        )
        code = self.mailer.sent[-1].body.split("code is ")[1][:6]
        self.services.identification.verify(staff, started.id, code)

    def link_token(self) -> str:
        return self.mailer.sent[-1].body.split("#token=")[1].split()[0]


@dataclass
class MContract:
    holder: str
    active: bool
    services: dict[str, str]  # kind -> service id


@dataclass
class MCase:
    id: str
    contract: str
    customer: str
    open: bool = True
    flagged: bool = False


@dataclass
class MRequest:
    id: str
    case: MCase
    token: str
    expires: datetime
    pending: bool = True


@dataclass
class MGrant:
    id: str
    staff: str
    service: str
    case: MCase
    customer: str
    contract: str
    max_sessions: int
    expires: datetime
    used: int = 0
    sessions: set[str] = field(default_factory=set)
    ended: bool = False
