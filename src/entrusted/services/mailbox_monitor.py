"""The metadata-only mailbox monitor (P13, P14): total size, folder names and the count and
size of each folder, never anything about one message, and every look asked of the gate.

A mailbox is found by its address through the registry's blind index (the stored address is
encrypted); the reader (setting `mail_metadata_backend`) finds its Maildir by the path
template or Dovecot's userdb, or asks Dovecot itself (`doveadm mailbox status`).

```python
meta = monitor.metadata(support, "info@example.org")   # ledgered: support-monitors-...
meta.messages, meta.bytes, [f.name for f in meta.folders]
```
"""

from __future__ import annotations

from dataclasses import dataclass

from entrusted.crypto.blind_index import email_index
from entrusted.crypto.personal import data_key, open_service
from entrusted.domain.mail import MailboxMetadata
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.domain.registry import ServiceKind, StoredContract
from entrusted.errors import NotFound
from entrusted.services.gate import AccessContext
from entrusted.services.hosted import find_hosted
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import MailboxReader
from entrusted.services.registry import RegistryParts, load_customer

UNKNOWN = Resource(ResourceKind.MAILBOX_METADATA, "unknown-mailbox")


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A hosted mailbox as the mail area needs it: ids, and its canonical address."""

    service_id: str
    contract: StoredContract
    address: str

    @property
    def holder_id(self) -> str:
        return self.contract.holder_id

    def resource(self, kind: ResourceKind) -> Resource:
        return Resource(kind, self.service_id, owner=self.contract.holder_id)


def find_mailbox(parts: RegistryParts, address: str) -> Mailbox:
    """The hosted mailbox with this address (NotFound otherwise), by blind index."""
    canonical = parts.contacts.email(address, "address")
    idx = email_index(parts.keys().index_key, canonical)
    found = find_hosted(parts, idx)
    if found is None:
        raise NotFound("mailbox", "with that address")
    contract, service = found
    return Mailbox(service.id, contract, canonical)


def mailbox_address(parts: RegistryParts, contract_id: str, service_id: str) -> str | None:
    """The address of a hosted mailbox, decrypted under its current holder's data key."""
    with parts.read() as uow:
        contract = uow.contracts.get(contract_id)
        if contract is None:
            return None
        holder = load_customer(uow, contract.holder_id)
    service = next((s for s in contract.services if s.id == service_id), None)
    if service is None or service.kind is not ServiceKind.MAILBOX:
        return None
    return open_service(data_key(parts.keys(), holder), holder.id, service)


class MailboxMonitor:
    def __init__(self, parts: RegistryParts, reader: MailboxReader) -> None:
        self._p = parts
        self._reader = reader

    def reading_with(self, reader: MailboxReader) -> MailboxMonitor:
        """The same monitor (registry, gate, ledger) over another backend: the mail benchmark
        times both backends on one installation."""
        return MailboxMonitor(self._p, reader)

    def metadata(self, actor: Actor, address: str) -> MailboxMetadata:
        """The mailbox's totals, once the gate allowed `list_metadata` and ledgered it.

        The gate is asked before an unknown address is answered, as for FTP sizes: otherwise
        a role the rules refuse could tell from 404 against 403 which addresses are hosted.
        An unknown address is refused by the rules for every role but support, and for
        support it is a ledgered `mail.metadata-unknown-mailbox` and NotFound; a hosted
        mailbox with no store answers the same NotFound (no service id)."""
        context = AccessContext(note="mailbox monitor")
        try:
            box: Mailbox | None = find_mailbox(self._p, address)
        except NotFound:
            box = None
        resource = UNKNOWN if box is None else box.resource(ResourceKind.MAILBOX_METADATA)
        self._p.gate.decide(actor, Action.LIST_METADATA, resource, context)
        if box is None:
            self._p.outcomes.record(
                actor,
                Action.LIST_METADATA,
                resource,
                Outcome.MAIL_METADATA_UNKNOWN,
                "mailbox monitor: no hosted mailbox has that address",
                context,
                allowed=False,
            )
            raise NotFound("mailbox", "with that address")
        folders = self._reader.folders(box.address)
        if folders is None:
            raise NotFound("mailbox", "with that address")
        return MailboxMetadata(box.service_id, tuple(folders))
