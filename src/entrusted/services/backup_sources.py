"""What a backup run covers (P15: everything hosted): for every customer, each hosted
service's directory (from the same path templates the mail and FTP servers use, and the web
root template) and the customer's own record.

The record is the customer's rows as stored: personal details stay ciphertext under the
customer's data key, so erasing that key (P2) also shreds the record inside every backup.
Cancelled contracts are covered while their files exist; P16 gives them no longer retention.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from entrusted.crypto.personal import data_key, open_service
from entrusted.domain.backups import Source, site_root
from entrusted.domain.mail import mailbox_root
from entrusted.domain.registry import ServiceKind, StoredContract, StoredService
from entrusted.errors import EntrustedError
from entrusted.services.backups import Target
from entrusted.services.ftp_login import space_root
from entrusted.services.registry import RegistryParts, load_customer


@dataclass(frozen=True, slots=True)
class Roots:
    """The path templates of the hosted services (settings `mail_root_template`,
    `ftp_root_template`, `web_root_template`)."""

    mail: str
    ftp: str
    web: str

    def of(self, service: StoredService, name: str) -> str:
        if service.kind is ServiceKind.MAILBOX:
            return mailbox_root(self.mail, name)
        if service.kind is ServiceKind.FTP_SPACE:
            return space_root(self.ftp, name, service.id)
        return site_root(self.web, name, service.id)


_SOURCE = {
    ServiceKind.MAILBOX: Source.MAILBOX,
    ServiceKind.FTP_SPACE: Source.FTP_SPACE,
    ServiceKind.WEBSITE: Source.WEBSITE,
}


class RegistrySources:
    """Plans a run from the registry (`customer_ids` lists every customer on file)."""

    def __init__(
        self, parts: RegistryParts, customer_ids: Callable[[], list[str]], roots: Roots
    ) -> None:
        self._p = parts
        self._customer_ids = customer_ids
        self._roots = roots

    def plan(self) -> list[Target]:
        """Every customer's targets; a customer whose record cannot be loaded or decrypted is
        one target with its `problem` (the error's type), so the run goes on and says so."""
        targets: list[Target] = []
        for customer_id in self._customer_ids():
            try:
                targets.extend(self.for_customer(customer_id))
            except EntrustedError as exc:
                problem = type(exc).__name__
                targets.append(Target(customer_id, Source.RECORD, None, problem=problem))
        return targets

    def for_customer(self, customer_id: str) -> list[Target]:
        with self._p.uow() as uow:
            sealed = load_customer(uow, customer_id)
            contracts = uow.contracts.for_holder(customer_id)
        record = _record(sealed, contracts)
        targets = [Target(customer_id, Source.RECORD, None, record=record)]
        services = [s for c in contracts for s in c.services if s.kind in _SOURCE]  # no domains
        if services:
            dek = data_key(self._p.keys(), sealed)
            for service in services:
                name = open_service(dek, customer_id, service)
                root = self._roots.of(service, name)
                targets.append(Target(customer_id, _SOURCE[service.kind], service.id, root=root))
        return targets


def _record(customer: object, contracts: list[StoredContract]) -> bytes:
    document = {"customer": _plain(customer), "contracts": [_plain(c) for c in contracts]}
    return json.dumps(document, sort_keys=True, indent=1).encode("utf-8")


def _plain(value: object) -> object:
    """A stored dataclass as JSON: bytes (ciphertext, indexes) as base64, times as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
