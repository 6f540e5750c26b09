"""The registry world plus cases, consent and grants, all in memory, for fast service tests
(and the property-based test). Fake people only (see registry_world)."""

from __future__ import annotations

from dataclasses import dataclass, field

from entrusted.adapters.contacts import Contacts
from entrusted.bootstrap import WORKER
from entrusted.domain.cases import Grant
from entrusted.domain.policy import Actor, Condition
from entrusted.services.cases import CaseService
from entrusted.services.consent import ConsentService
from entrusted.services.consent_notices import ConsentNotices
from entrusted.services.consent_parts import ConsentLimits, ConsentParts
from entrusted.services.events import EventBus, GrantEnded
from entrusted.services.grant_steps import GrantSteps
from entrusted.services.grants import ActiveGrant, GrantService
from entrusted.services.identification import IdentificationService
from entrusted.services.memory_consent import InMemoryConsent
from entrusted.services.memory_grant_steps import InMemoryGrantSteps
from entrusted.services.outbox import DeliveryReport, OutboxService
from entrusted.services.registry import RegistryParts
from entrusted.services.registry_forms import ServiceRequest
from entrusted.services.registry_lookup import cases_in
from entrusted.services.verbal_consent import VerbalConsentService
from tests.unit.registry_world import MAILS, SIGNUP, STAFF_NAMES, World

PORTAL = "https://portal.example.com"


@dataclass
class Holder:
    """A customer with one contract hosting a mailbox, an FTP space and a website."""

    customer_id: str
    contract_id: str
    mailbox: str
    ftp: str
    website: str


@dataclass
class ConsentWorld(World):
    consent_store: InMemoryConsent = field(default_factory=InMemoryConsent)
    limits: ConsentLimits = field(default_factory=ConsentLimits)
    ended: list[Grant] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        resolver = ActiveGrant(self.consent_store.unit_of_work, self.store.unit_of_work, self.clock)
        self.gate.resolvers = {**self.gate.resolvers, Condition.ACTIVE_GRANT: resolver}
        parts = RegistryParts(
            self.store.unit_of_work, self.gate, lambda: self.keys, Contacts(), self.clock,
            mails=MAILS,
        )  # fmt: skip
        steps = GrantSteps(parts, InMemoryGrantSteps())
        self.notices = ConsentNotices(
            parts, self.mailer, PORTAL, self.ledger, steps, STAFF_NAMES.get
        )
        self.consent_outbox = OutboxService(
            self.consent_store.unit_of_work,
            self.mailer,
            self.clock,
            self.notices.renderers(self.consent_store.unit_of_work),
        )
        cparts = ConsentParts(parts, self.consent_store.unit_of_work, self.notices, self.limits)
        self.events = EventBus()
        self.events.subscribe(GrantEnded, lambda event: self.ended.append(event.grant))
        self.grants = GrantService(cparts, self.events)
        self.consent = ConsentService(cparts, self.grants)
        self.verbal = VerbalConsentService(cparts, self.grants)
        self.cases = CaseService(cparts, self.grants)
        self.identification = IdentificationService(
            parts,
            self.mailer,
            self.sms,
            cases=cases_in(self.consent_store.unit_of_work),
            # the per-hour bound on codes has its own test; random runs must not trip it
            codes_per_hour=1_000_000,
        )
        self.contracts.after_change.append(self.consent.contract_changed)

    def holder(self) -> Holder:
        n = self.people.n + 1
        form = self.people.form(
            services=(
                ServiceRequest("mailbox", f"box{n}@example.org"),
                ServiceRequest("ftp_space", f"backup{n}"),
                ServiceRequest("website", f"www{n}.example.org"),
            )
        )
        done = self.registry.register(SIGNUP, form)
        assert done.contract_id is not None
        self.deliver()  # the password link, before anything the test is about
        with self.store.unit_of_work() as uow:
            contract = uow.contracts.get(done.contract_id)
        assert contract is not None
        by_kind = {s.kind.value: s.id for s in contract.services}
        return Holder(
            done.customer_id,
            done.contract_id,
            by_kind["mailbox"],
            by_kind["ftp_space"],
            by_kind["website"],
        )

    @property
    def worker(self) -> Actor:
        return WORKER

    def link_token(self, marker: str = "#token=") -> str:
        """The token of the last link e-mailed (approval or "not me")."""
        for mail in reversed(self.mailer.sent):
            if marker in mail.body:
                return mail.body.split(marker)[1].split()[0]
        raise AssertionError("no link was e-mailed")

    def deliver(self) -> DeliveryReport:
        """Run the worker's outbox job once: the twins keep registry and consent apart, so
        each has its own outbox (one table in production)."""
        done = [super().deliver(), self.consent_outbox.deliver()]
        return DeliveryReport(*(sum(getattr(d, f) for d in done) for f in DeliveryReport.__slots__))

    def mails_to(self, customer_id: str) -> list[str]:
        """Subjects of the messages sent to a customer's address on file, in order, once
        the outbox was delivered."""
        self.deliver()
        address = self.notices.address(customer_id)
        return [m.subject for m in self.mailer.sent if m.to == address]
