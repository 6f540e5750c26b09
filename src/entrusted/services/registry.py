"""The customer registry (P1, P2, P4): registration, the customer's own record, what support
sees to identify a caller, and the customer's data-access export. There is no bulk export.

Every read or change asks the gate first, with the customer as the resource's owner, so the
rules decide (and the ledger records) who sees what:

- the signup site (service token) or an operator at the console registers customers;
- a customer reads, corrects and exports their own record;
- support looks a caller up (with a case or ticket, throttled) and sees what identification
  needs, the name and a contract summary only once the caller is identified
  (`registry_lookup.py`);
- sysadmins and every other role get nothing: no rule permits them;
- an attempt to export the customer file is refused by a forbid no role escapes (P4).

```python
registry.register(signup, Registration("Muster", "Anna", "anna@example.com"))
registry.find(support, email="anna@example.com", context=AccessContext(ticket="HD-1"))
registry.export_all(sysadmin)               # raises Refused, ledgered
```
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NoReturn

from entrusted.crypto.blind_index import email_index
from entrusted.crypto.personal import (
    RegistryKeys,
    data_key,
    open_contract,
    open_customer,
    reseal,
    seal_customer,
    seal_service,
)
from entrusted.crypto.secrets import new_id
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.domain.registry import (
    PREFERENCE_FIELDS,
    ContractStatus,
    ContractView,
    CustomerRecord,
    CustomerStatus,
    PersonalDetails,
    SealedCustomer,
    StoredContract,
    is_registrar,
)
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.contact_email import ContactEmails
from entrusted.services.customer_auth import CustomerAuthService
from entrusted.services.customer_preferences import Preferences, read_preferences
from entrusted.services.gate import AccessContext, Gate
from entrusted.services.outbox import MailTemplates, required
from entrusted.services.outcomes import Outcome, OutcomeRecorder
from entrusted.services.ports import (
    Clock,
    ContactNormaliser,
    CustomerEntries,
    RegistryUnitOfWork,
    RegistryUnitOfWorkFactory,
)
from entrusted.services.registry_forms import (
    Registration,
    registration_from_row,
    validate_changes,
    validate_details,
    validate_preferences,
    validate_services,
)
from entrusted.services.registry_lookup import (
    CallerLookup,
    CallerView,
    LookupLimits,
    LookupThrottle,
)

EXPORT_FORMAT = "entrusted-data-export/v1"
DUPLICATE_EMAIL = "a customer with this e-mail address is already registered"


@dataclass(frozen=True)
class RegistryParts:
    """What every registry service works with; built once by the composition root. `keys` is
    a provider so that commands that never touch the registry never need its key files."""

    uow: RegistryUnitOfWorkFactory
    gate: Gate
    keys: Callable[[], RegistryKeys]
    contacts: ContactNormaliser
    clock: Clock
    ids: Callable[[str], str] = new_id
    # Units that only read: on SQLite they take no write lock, so a read that follows a
    # decision does not queue behind the ledger writer's commits (bench api: most of a
    # customer's own-record request waited in BEGIN IMMEDIATE). None: `uow` reads too.
    readers: RegistryUnitOfWorkFactory | None = None
    # How mails to customers are written (adapters/mail_templates.py); None: every mail fails
    # (Unavailable, so a queued notice waits and is retried) rather than going out unwritten.
    mails: MailTemplates | None = None

    @property
    def outcomes(self) -> OutcomeRecorder:
        return OutcomeRecorder(self.gate)

    def templates(self) -> MailTemplates:
        return required(self.mails)

    def read(self) -> RegistryUnitOfWork:
        """A unit of work for reading only (never commit through it)."""
        return (self.readers or self.uow)()


@dataclass(frozen=True, slots=True)
class Registered:
    customer_id: str
    contract_id: str | None
    password_link_queued: bool  # in the outbox, with the customer; the worker sends it


def personal(customer_id: str) -> Resource:
    return Resource(ResourceKind.PERSONAL_DETAILS, customer_id, owner=customer_id)


def require_registrar(gate: Gate, actor: Actor, resource: Resource) -> None:
    """Refuse, and ledger the refusal, unless `actor` is the signup site or an operator: the
    rules can only say "a service", and the mail hook is a service too."""
    if is_registrar(actor):
        return
    OutcomeRecorder(gate).refuse(
        actor,
        Action.CREATE,
        resource,
        Outcome.REGISTRAR_ONLY,
        "only the signup site or an operator registers customers",
    )


def load_customer(uow: RegistryUnitOfWork, customer_id: str) -> SealedCustomer:
    found = uow.customers.get(customer_id)
    if found is None:
        raise NotFound("customer", customer_id)
    return found


class RegistryService:
    def __init__(
        self,
        parts: RegistryParts,
        links: CustomerAuthService,
        ledger: CustomerEntries,
        lookup: CallerLookup | None = None,
        emails: ContactEmails | None = None,
    ) -> None:
        self._p = parts
        self.emails = emails or ContactEmails(
            parts.uow, parts.gate, parts.keys, parts.clock, mails=parts.mails
        )
        self._links = links
        self._ledger = ledger
        # Without a case store a look-up naming a case is Unavailable; tickets still work.
        self.lookup = lookup or CallerLookup(
            parts, LookupThrottle(LookupLimits(), parts.clock), None
        )

    # --- registration --------------------------------------------------------------------

    def register(self, actor: Actor, form: Registration) -> Registered:
        """Register one customer (and a first contract when services are asked for), then
        e-mail them the link that sets their password. Nothing is written on any failure."""
        p = self._p
        details = validate_details(p.contacts, form)
        preferences = validate_preferences(form)
        wanted = validate_services(p.contacts, form.services)
        keys = p.keys()
        customer_id = p.ids("cus")
        require_registrar(p.gate, actor, personal(customer_id))
        idx = email_index(keys.index_key, details.email)
        with p.uow() as uow:
            if uow.customers.by_email_index(idx) is not None:
                raise Conflict(DUPLICATE_EMAIL)
        p.gate.decide(actor, Action.CREATE, personal(customer_id))
        contract_id = p.ids("ctr") if wanted else None
        if contract_id is not None:
            p.gate.decide(
                actor, Action.CREATE, Resource(ResourceKind.CONTRACT, contract_id, customer_id)
            )
        now = p.clock()
        sealed = preferred(
            seal_customer(keys, customer_id, CustomerStatus.ACTIVE, now, details), preferences
        )
        with p.uow() as uow:
            uow.customers.add(sealed)
            self._links.queue_link(uow.outbox, customer_id)
            if contract_id is not None:
                dek = data_key(keys, sealed)
                services = tuple(
                    seal_service(keys, dek, customer_id, p.ids("svc"), contract_id, kind, name)
                    for kind, name in wanted
                )
                uow.contracts.add(
                    StoredContract(
                        contract_id, customer_id, ContractStatus.ACTIVE, now, None, services
                    )
                )
            uow.commit()
        return Registered(customer_id, contract_id, password_link_queued=True)

    def is_customer(self, customer_id: str) -> bool:
        """Whether `customer_id` names a registered customer: for the operator's receipt
        export, which shows the id it was given and nothing of the record."""
        with self._p.read() as uow:
            return uow.customers.get(customer_id) is not None

    # --- the customer's own record -------------------------------------------------------

    def details(self, actor: Actor, customer_id: str) -> CustomerRecord:
        """The whole record: for the customer themselves (the rules allow no one else)."""
        self._p.gate.decide(actor, Action.READ, personal(customer_id))
        with self._p.read() as uow:
            sealed = load_customer(uow, customer_id)
        return self._record(sealed)

    def preferences(self, customer_id: str) -> Preferences:
        """The language and time zone alone, for dressing a page: no gate decision, as no
        personal data is read, and only for the signed-in customer's own id
        (`services/customer_preferences.py` says why)."""
        return read_preferences(self._p.read, customer_id)

    def correct(
        self, actor: Actor, customer_id: str, changes: Mapping[str, str | None]
    ) -> CustomerRecord:
        """Apply the customer's corrections at once, except a new e-mail address: that one
        waits for the link mailed to it (`services/contact_email.py`), and the record
        returned still shows the address in force."""
        p = self._p
        values = validate_changes(p.contacts, changes)
        p.gate.decide(actor, Action.UPDATE, personal(customer_id))
        keys = p.keys()
        with p.uow() as uow:
            sealed = load_customer(uow, customer_id)
            current = open_customer(keys, sealed)
            new_email = values.pop("email", None)
            preferences = {k: values.pop(k) for k in PREFERENCE_FIELDS if k in values}
            updated = current.corrected(values)
            changed = preferred(sealed, preferences)
            if updated != current or changed != sealed:
                uow.customers.update(reseal(keys, changed, updated))
            if new_email is not None and new_email != current.email:
                self.emails.request(uow, sealed, new_email)
            uow.commit()
        return CustomerRecord(
            sealed.id, sealed.status, sealed.created_at, updated,
            changed.language, changed.time_zone,
        )  # fmt: skip

    def confirm_email(self, token: str) -> str:
        """Apply the new contact address a confirmation link is for; the customer id."""
        return self.emails.confirm(token)

    def _record(self, sealed: SealedCustomer) -> CustomerRecord:
        details = open_customer(self._p.keys(), sealed)
        return CustomerRecord(
            sealed.id, sealed.status, sealed.created_at, details, sealed.language, sealed.time_zone
        )

    # --- support: identifying a caller (services/registry_lookup.py) ----------------------

    def summary(
        self, actor: Actor, customer_id: str, context: AccessContext | None = None
    ) -> CallerView:
        """What support may see of a customer to identify a caller: masked until the caller is
        identified, then the name and the contracts. Needs an open case or a ticket."""
        return self.lookup.summary(actor, customer_id, context or AccessContext())

    def find(
        self,
        actor: Actor,
        *,
        email: str | None = None,
        phone: str | None = None,
        context: AccessContext | None = None,
        mailbox: str | None = None,
        domain: str | None = None,
        customer_number: str | None = None,
    ) -> list[CallerView]:
        """Find a contract holder by the e-mail or phone number a caller gives (or a hosted
        mailbox address, a domain or the hoster's customer number), through the blind index
        only. The lookup itself passes the gate first, so a role that may not identify
        callers learns nothing, not even whether the address is a customer's."""
        by = {"mailbox": mailbox, "domain": domain, "customer_number": customer_number}
        return self.lookup.find(actor, email, phone, context or AccessContext(), by)

    # --- exports --------------------------------------------------------------------------

    def export_all(self, actor: Actor) -> NoReturn:
        """There is no bulk export of personal data (P4). The attempt is put to the gate so it
        is refused *and recorded*; the shipped invariants make every rules file refuse it."""
        self._p.gate.decide(actor, Action.EXPORT, Resource(ResourceKind.CUSTOMER_FILE, "all"))
        # Only reachable under rules that broke the invariant check at start-up; still no.
        self._p.outcomes.refuse(
            actor,
            Action.EXPORT,
            Resource(ResourceKind.CUSTOMER_FILE, "all"),
            Outcome.NO_BULK_EXPORT,
            "there is no bulk export",
        )

    def export_own(self, actor: Actor, customer_id: str) -> dict[str, Any]:
        """A customer's data-access export: their record, contracts, identifications,
        transfers and every ledger entry filed under them (P3), as one JSON document. The
        composition root hands in the ledger as the customer's views read it: the entries of
        a disclosure whose notice a court order defers are held back until it is lifted (P5,
        `services/disclosure_holdback.py`)."""
        p = self._p
        p.gate.decide(actor, Action.EXPORT, personal(customer_id))
        p.gate.decide(
            actor,
            Action.READ,
            Resource(ResourceKind.LEDGER, f"customer/{customer_id}", owner=customer_id),
        )
        with p.uow() as uow:
            sections = export_sections(p.keys(), p.clock(), uow, customer_id)
        entries = self._ledger.entries_for_customer(customer_id, self._ledger.stored_size())
        return {
            "format": EXPORT_FORMAT,
            "exported_at": p.clock().isoformat(),
            **sections,
            "ledger_entries": [
                {"index": index, "entry": json.loads(body)} for index, body in entries
            ],
        }

    # --- bulk registration (an operator's import) -----------------------------------------

    def import_customers(
        self,
        actor: Actor,
        rows: Iterable[Mapping[str, str | None]],
        progress: Callable[[str, int, int], None] | None = None,
        *,
        first_row: int = 2,
        chunk: int = 1000,
    ) -> list[str]:
        """Register every row, or none: all rows are validated first (an error names the row
        and the field), then decided by the gate in one ledger append, then written in one
        transaction. Imported customers get no e-mail; they ask for a password link when
        they first log in. Returns the new customer ids in row order."""
        p = self._p
        report = progress or (lambda _stage, _done, _total: None)
        keys = p.keys()
        parsed: list[PersonalDetails] = []
        preferences: list[dict[str, str | None]] = []
        seen: dict[bytes, int] = {}
        indexes: list[bytes] = []
        for n, row in enumerate(rows, start=first_row):
            try:
                form = registration_from_row(row)
                details = validate_details(p.contacts, form)
                preferences.append(validate_preferences(form))
            except InvalidInput as exc:
                raise InvalidInput(f"row {n} {exc.field}", exc.message.partition(": ")[2]) from None
            idx = email_index(keys.index_key, details.email)
            if idx in seen:
                raise InvalidInput(f"row {n} email", f"is the same address as row {seen[idx]}")
            seen[idx] = n
            parsed.append(details)
            indexes.append(idx)
            if len(parsed) % chunk == 0:
                report("validated", len(parsed), 0)
        total = len(parsed)
        report("validated", total, total)
        ids = [p.ids("cus") for _ in parsed]
        if ids:
            require_registrar(p.gate, actor, personal(ids[0]))
        with p.uow() as uow:
            taken = uow.customers.emails_on_file(indexes)
        if taken:
            first = min(seen[i] for i in taken)
            raise Conflict(f"row {first}: {DUPLICATE_EMAIL}")
        p.gate.decide_many(actor, Action.CREATE, [personal(cid) for cid in ids])
        now = p.clock()
        with p.uow() as uow:
            for start in range(0, total, chunk):
                batch = [
                    preferred(seal_customer(keys, cid, CustomerStatus.ACTIVE, now, details), pref)
                    for cid, details, pref in zip(
                        ids[start : start + chunk],
                        parsed[start : start + chunk],
                        preferences[start : start + chunk],
                        strict=True,
                    )
                ]
                uow.customers.add_many(batch)
                report("written", start + len(batch), total)
            uow.commit()
        return ids


def preferred(sealed: SealedCustomer, values: Mapping[str, str | None]) -> SealedCustomer:
    """`sealed` with the language and time zone in `values` (validated; absent: unchanged)."""
    return replace(
        sealed,
        language=values.get("language", sealed.language),
        time_zone=values.get("time_zone", sealed.time_zone),
    )


def export_sections(
    keys: RegistryKeys, now: datetime, uow: RegistryUnitOfWork, customer_id: str
) -> dict[str, Any]:
    """The sections of a customer's export that come from the registry (`customer`,
    `contracts`, `identifications`, `transfers`): the customer's own export and a disclosure
    under a court order (`services/disclosures.py`, which keeps only what the order covers)
    build them here, so both show the same data the same way."""
    sealed = load_customer(uow, customer_id)
    contracts = uow.contracts.for_holder(customer_id)
    identifications = uow.identifications.for_customer(customer_id)
    transfers = uow.contracts.transfers_for(customer_id)
    details = open_customer(keys, sealed)
    return {
        "customer": {
            "id": sealed.id,
            "status": sealed.status.value,
            "created_at": sealed.created_at.isoformat(),
            **details.as_dict(),
        },
        "contracts": [_contract_json(open_contract(keys, sealed, c)) for c in contracts],
        "identifications": [
            {
                "id": i.id,
                "method": i.method.value,
                "outcome": i.state_at(now).value,
                "at": i.created_at.isoformat(),
                "by": i.staff_id,
                "contract": i.contract_id,
            }
            for i in identifications
        ],
        "transfers": [
            {
                "id": t.id,
                "contract": t.contract_id,
                "from": t.from_customer,
                "to": t.to_customer,
                "at": t.at.isoformat(),
                "by": t.by,
                "ledger_index": t.ledger_index,
            }
            for t in transfers
        ],
    }


def _contract_json(view: ContractView) -> dict[str, Any]:
    return {
        "id": view.id,
        "status": view.status.value,
        "created_at": view.created_at.isoformat(),
        "cancelled_at": view.cancelled_at.isoformat() if view.cancelled_at else None,
        "services": [{"id": s.id, "kind": s.kind.value, "name": s.name} for s in view.services],
    }
