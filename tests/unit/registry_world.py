"""An in-memory registry world for fast service tests, and fake people (Faker names, example.com
addresses, +41 44 000 .. .. / +41 79 000 .. .. numbers: never a real person or line)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta

from faker import Faker

from entrusted.adapters.contacts import Contacts
from entrusted.adapters.mail_templates import JinjaMailTemplates
from entrusted.adapters.rules_file import DEFAULT_RULES_PATH, load_rules
from entrusted.crypto.blind_index import new_index_key
from entrusted.crypto.envelope import Keyring, MasterKey
from entrusted.crypto.personal import RegistryKeys
from entrusted.domain.cases import Case, CaseStatus
from entrusted.domain.policy import Actor, ActorKind, Condition, Engine, Role
from entrusted.services.contracts import ContractService
from entrusted.services.customer_auth import CustomerAuthService
from entrusted.services.gate import Gate
from entrusted.services.identification import CallerIdentified, IdentificationService
from entrusted.services.memory import InMemoryLedger
from entrusted.services.memory_mail import InMemoryMailer, InMemorySms
from entrusted.services.memory_registry import InMemoryRegistry
from entrusted.services.outbox import DeliveryReport, OutboxService
from entrusted.services.registry import RegistryParts, RegistryService
from entrusted.services.registry_forms import Registration, ServiceRequest
from tests.conftest import FakeClock

ENGINE = Engine(load_rules(DEFAULT_RULES_PATH).rules)
SIGNUP = Actor(ActorKind.SERVICE, "signup")
OPERATOR = Actor(ActorKind.SERVICE, "cli:ops@host")
# Display names of the staff above, as mails to customers name them (issue 18).
STAFF_NAMES = {"stf_support": "Sam Support", "stf_support2": "Kim Support"}
MAILS = JinjaMailTemplates("Example Hosting")
SUPPORT = Actor(ActorKind.STAFF, "stf_support", frozenset({Role.SUPPORT}))
SUPPORT2 = Actor(ActorKind.STAFF, "stf_support2", frozenset({Role.SUPPORT}))
SYSADMIN = Actor(ActorKind.STAFF, "stf_sysadmin", frozenset({Role.SYSADMIN}))
LEGAL = Actor(ActorKind.STAFF, "stf_legal", frozenset({Role.LEGAL}))
OFFICE = Actor(ActorKind.STAFF, "stf_office", frozenset({Role.OTHER}))


def customer(customer_id: str) -> Actor:
    return Actor(ActorKind.CUSTOMER, customer_id)


def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


class People:
    """Distinct fake people; `n` makes every number and address unique within a run."""

    def __init__(self, seed: int = 5) -> None:
        self.fake = Faker("de_CH")
        self.fake.seed_instance(seed)
        self.n = 0

    def form(self, services: tuple[ServiceRequest, ...] = (), mobile: bool = True) -> Registration:
        self.n += 1
        n = self.n
        first, last = self.fake.first_name(), self.fake.last_name()
        return Registration(
            last_name=last,
            first_name=first,
            email=f"{ascii_fold(first)}.{ascii_fold(last)}{n}@example.com",
            phone=f"044 000 {n // 100 % 100:02d} {n % 100:02d}",
            mobile=f"+41 79 000 {n // 100 % 100:02d} {n % 100:02d}" if mobile else None,
            services=services,
        )


@dataclass
class World:
    clock: FakeClock = field(default_factory=FakeClock)
    store: InMemoryRegistry = field(default_factory=InMemoryRegistry)
    ledger: InMemoryLedger = field(default_factory=InMemoryLedger)
    mailer: InMemoryMailer = field(default_factory=InMemoryMailer)
    sms: InMemorySms = field(default_factory=InMemorySms)
    keys: RegistryKeys = field(
        default_factory=lambda: RegistryKeys(Keyring(MasterKey.generate()), new_index_key())
    )
    people: People = field(default_factory=People)
    # The support cases identifications may name (the consent store's, in production).
    support_cases: dict[str, Case] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.gate = Gate(
            ENGINE,
            self.ledger,
            self.clock,
            {
                Condition.CALLER_IDENTIFIED: CallerIdentified(
                    self.store.unit_of_work, self.clock, timedelta(hours=1)
                )
            },
        )
        parts = RegistryParts(
            self.store.unit_of_work, self.gate, lambda: self.keys, Contacts(), self.clock,
            mails=MAILS,
        )  # fmt: skip
        self.auth = CustomerAuthService(
            self.store.unit_of_work,
            self.clock,
            lambda: self.keys,
            Contacts(),
            "https://portal.example.com",
            mails=MAILS,
        )
        self.registry = RegistryService(parts, self.auth, self.ledger)
        self.outbox = OutboxService(
            self.store.unit_of_work,
            self.mailer,
            self.clock,
            {**self.auth.renderers(), **self.registry.emails.renderers()},
        )
        self.contracts = ContractService(parts, self.auth)
        self.identification = IdentificationService(
            parts, self.mailer, self.sms, cases=self.support_cases.get
        )

    def deliver(self) -> DeliveryReport:
        """Run the worker's outbox job once (password links, e-mail change links)."""
        return self.outbox.deliver()

    def register(self, **kwargs: object) -> str:
        return self.registry.register(SIGNUP, self.people.form(**kwargs)).customer_id  # type: ignore[arg-type]

    def identify(self, staff: Actor, customer_id: str, **kwargs: str) -> None:
        """Identify the caller by an e-mailed code, as support does on the phone (on an open
        case of theirs, made up here if the test names one this world has not seen)."""
        case_id = kwargs.get("case_id")
        if case_id is not None and case_id not in self.support_cases:
            self.open_case(customer_id, case_id)
        started = self.identification.start(staff, customer_id, "email_code", **kwargs)
        self.identification.verify(staff, started.id, self.last_code())

    def open_case(self, customer_id: str, case_id: str) -> Case:
        case = Case(
            case_id, customer_id, "ctr_unknown", "Call", CaseStatus.OPEN, self.clock(), "stf_x"
        )
        self.support_cases[case_id] = case
        return case

    def last_code(self) -> str:
        body = self.mailer.sent[-1].body
        return body.split("code is ")[1][:6]

    def decisions(self) -> list[tuple[str, str, str, str | None]]:
        """(actor id, action, decision, rule) of every ledger entry, in order."""
        return [(e.actor_id, e.action, e.decision, e.rule) for e in self.ledger.entries]
