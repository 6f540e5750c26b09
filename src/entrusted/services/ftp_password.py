"""The FTP login password of an FTP space (P9): set by the space's customer, nobody else.

Why its own password: an FTP client stores its password in a config file on a backup
machine, often in clear; with the customer-account password there, losing that machine would
hand over the whole account (details, consent, contracts). An FTP password opens the one
space only, and the customer can change it without touching their account.

- The gate decides every set (`customer-sets-own-ftp-password`, the space's holder only;
  `staff-never-set-ftp-passwords` forbids staff, who would otherwise enter without consent);
  the decision is ledgered before the change and `ftp.password-set` only after it committed.
- The password follows the same strength rules as the customer account's; it is stored as an
  argon2id hash, one per space, hashed outside any transaction.
- A transfer of the contract clears it in the transfer's own transaction
  (`services/contracts.py`), so the former holder keeps no way in; the new holder sets one.

There is no e-mailed reset link of its own: a customer who forgot the FTP password signs in
to their account (or resets that password through its link) and sets a new one here.

```python
ftp_passwords.set(customer, "svc_1", "a long new ftp password")
```
"""

from __future__ import annotations

from entrusted.crypto.secrets import hash_password
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.domain.registry import ContractStatus
from entrusted.domain.staff import validate_password
from entrusted.errors import Conflict, NotFound
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.registry import RegistryParts

NOTE = "ftp password"
_NOUN = "FTP space"
_MAX_ID = 64  # the gate's id length; longer or unprintable ids go to the gate to be refused


class FtpPasswordService:
    def __init__(self, parts: RegistryParts) -> None:
        self._p = parts

    def set(self, actor: Actor, service_id: str, password: str) -> None:
        """Set (or replace) the FTP password of the space `service_id`. InvalidInput for a
        weak password (nothing changes, nothing is asked), NotFound for an unknown space,
        Refused by the rules, Conflict for a cancelled contract or one that changed hands
        while the password was being hashed."""
        validate_password(password)
        p = self._p
        context = AccessContext(note=NOTE)
        if not 0 < len(service_id) <= _MAX_ID or not service_id.isprintable():
            # A malformed id never reaches a query (PostgreSQL text cannot hold NUL): the
            # gate refuses it as an invalid request, ledgered, and raises InvalidInput.
            p.gate.decide(actor, Action.UPDATE, Resource(ResourceKind.FTP_SPACE, service_id))
        with p.uow() as uow:
            contract_id = uow.ftp_passwords.contract_of(service_id)
            contract = None if contract_id is None else uow.contracts.get(contract_id)
        if contract is None:
            raise NotFound(_NOUN, service_id)
        resource = Resource(ResourceKind.FTP_SPACE, service_id, owner=contract.holder_id)
        p.gate.decide(actor, Action.UPDATE, resource, context)
        if contract.status is not ContractStatus.ACTIVE:
            raise Conflict(f"contract {contract.id} is cancelled; its FTP space takes no login")
        password_hash = hash_password(password)
        with p.uow() as uow:
            current = uow.contracts.get(contract.id)
            if current is None or current.holder_id != contract.holder_id:
                raise Conflict(f"contract {contract.id} changed holder meanwhile; ask again")
            uow.ftp_passwords.set(service_id, password_hash, p.clock())
            uow.commit()
        p.outcomes.record(
            actor, Action.UPDATE, resource, Outcome.FTP_PASSWORD_SET, "ftp password set", context
        )
