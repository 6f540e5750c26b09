"""Sealing and opening a customer's personal details (P2), built on `envelope` and
`blind_index`.

Every personal field is encrypted under the customer's own data key with the customer id and
the field name as associated data; hosted service names are encrypted under the holder's data
key with the service id in the field name, so a ciphertext moved to another row or column
fails to decrypt. E-mail, phone and mobile also get a blind index, the only thing a lookup
compares. One-time identification codes are stored as an HMAC under a key derived from the
index key: six digits are too few for a plain hash to hide them from whoever reads the table.

```python
keys = RegistryKeys(Keyring(kek), index_key)
sealed = seal_customer(keys, "cus_1", CustomerStatus.ACTIVE, now, details)
assert open_customer(keys, sealed) == details
```
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

from entrusted.crypto.blind_index import domain_index, email_index, ftp_space_index, phone_index
from entrusted.crypto.envelope import (
    KEY_SIZE,
    Keyring,
    WrappedKey,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap,
    wrap,
)
from entrusted.domain.registry import (
    ContractView,
    CustomerStatus,
    HostedService,
    PersonalDetails,
    SealedCustomer,
    ServiceKind,
    StoredContract,
    StoredService,
)
from entrusted.errors import InvalidInput

CODE_DIGITS = 6
_CODE_KEY_LABEL = b"entrusted-identification-code-key-v1"


@dataclass(frozen=True, repr=False)
class RegistryKeys:
    """The keys the registry works with: the master keyring and the blind-index key.

    `repr` names key ids only, never material."""

    keyring: Keyring
    index_key: bytes
    code_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.index_key) != KEY_SIZE:
            raise InvalidInput("index key", f"must be {KEY_SIZE} bytes")
        derived = hmac.digest(self.index_key, _CODE_KEY_LABEL, hashlib.sha256)
        object.__setattr__(self, "code_key", derived)

    def __repr__(self) -> str:
        return f"RegistryKeys({self.keyring!r})"


def seal_customer(
    keys: RegistryKeys,
    customer_id: str,
    status: CustomerStatus,
    created_at: datetime,
    details: PersonalDetails,
) -> SealedCustomer:
    """A new customer's stored form, under a fresh data key wrapped by the current master key."""
    dek = new_data_key()
    wrapped = wrap(keys.keyring.current, dek)
    return _seal(
        keys,
        dek,
        SealedCustomer(
            id=customer_id,
            status=status,
            created_at=created_at,
            kek_id=wrapped.kek_id,
            wrapped_key=wrapped.blob,
            last_name=b"",
            first_name=b"",
            email=b"",
            email_idx=b"",
        ),
        details,
    )


def reseal(keys: RegistryKeys, sealed: SealedCustomer, details: PersonalDetails) -> SealedCustomer:
    """`sealed` holding `details` instead, under the same data key."""
    return _seal(keys, data_key(keys, sealed), sealed, details)


def _seal(
    keys: RegistryKeys, dek: bytes, base: SealedCustomer, d: PersonalDetails
) -> SealedCustomer:
    cid = base.id

    def enc(name: str, value: str | None) -> bytes | None:
        return None if value is None else encrypt_field(dek, cid, name, value)

    return replace(
        base,
        last_name=encrypt_field(dek, cid, "last_name", d.last_name),
        first_name=encrypt_field(dek, cid, "first_name", d.first_name),
        email=encrypt_field(dek, cid, "email", d.email),
        email_idx=email_index(keys.index_key, d.email),
        phone=enc("phone", d.phone),
        phone_idx=None if d.phone is None else phone_index(keys.index_key, d.phone),
        mobile=enc("mobile", d.mobile),
        mobile_idx=None if d.mobile is None else phone_index(keys.index_key, d.mobile),
    )


def data_key(keys: RegistryKeys, sealed: SealedCustomer) -> bytes:
    return unwrap(keys.keyring, WrappedKey(sealed.kek_id, sealed.wrapped_key))


def open_customer(keys: RegistryKeys, sealed: SealedCustomer) -> PersonalDetails:
    """Every personal field in clear (TamperDetected if any ciphertext does not open)."""
    dek = data_key(keys, sealed)
    cid = sealed.id

    def dec(name: str, blob: bytes | None) -> str | None:
        return None if blob is None else decrypt_field(dek, cid, name, blob)

    return PersonalDetails(
        last_name=decrypt_field(dek, cid, "last_name", sealed.last_name),
        first_name=decrypt_field(dek, cid, "first_name", sealed.first_name),
        email=decrypt_field(dek, cid, "email", sealed.email),
        phone=dec("phone", sealed.phone),
        mobile=dec("mobile", sealed.mobile),
    )


@dataclass(frozen=True, slots=True)
class SealedPendingEmail:
    """A contact address waiting for its confirmation link (services/contact_email.py): the
    address under the customer's data key, its blind index, and only the SHA-256 of the
    link's token (None until the outbox worker mints and mails it)."""

    customer_id: str
    email: bytes
    email_idx: bytes
    requested_at: datetime
    expires_at: datetime
    token_hash: bytes | None = None


def seal_pending_email(
    keys: RegistryKeys,
    sealed: SealedCustomer,
    email: str,
    requested_at: datetime,
    expires_at: datetime,
) -> SealedPendingEmail:
    """The field name differs from the address in force, so neither ciphertext opens as the
    other."""
    blob = encrypt_field(data_key(keys, sealed), sealed.id, "pending_email", email)
    idx = email_index(keys.index_key, email)
    return SealedPendingEmail(sealed.id, blob, idx, requested_at, expires_at)


def open_pending_email(
    keys: RegistryKeys, sealed: SealedCustomer, pending: SealedPendingEmail
) -> str:
    return decrypt_field(data_key(keys, sealed), sealed.id, "pending_email", pending.email)


def open_name(keys: RegistryKeys, sealed: SealedCustomer) -> tuple[str, str]:
    """(last name, first name) only: what identification shows support."""
    dek = data_key(keys, sealed)
    return (
        decrypt_field(dek, sealed.id, "last_name", sealed.last_name),
        decrypt_field(dek, sealed.id, "first_name", sealed.first_name),
    )


def _service_field(service_id: str) -> str:
    return f"service/{service_id}/name"


def seal_service(
    keys: RegistryKeys,
    dek: bytes,
    holder_id: str,
    service_id: str,
    contract_id: str,
    kind: ServiceKind,
    name: str,
) -> StoredService:
    """A hosted service's stored form under its holder's data key; mailboxes and FTP spaces
    get an index (their names are login names, found by the mail and FTP servers), and so
    do domains (support finds a caller by the domain they quote)."""
    idx = (
        email_index(keys.index_key, name)
        if kind is ServiceKind.MAILBOX
        else ftp_space_index(keys.index_key, name)
        if kind is ServiceKind.FTP_SPACE
        else domain_index(keys.index_key, name)
        if kind is ServiceKind.DOMAIN
        else None
    )
    blob = encrypt_field(dek, holder_id, _service_field(service_id), name)
    return StoredService(service_id, contract_id, kind, blob, idx)


def open_service(dek: bytes, holder_id: str, service: StoredService) -> str:
    return decrypt_field(dek, holder_id, _service_field(service.id), service.name)


def move_service(
    old_dek: bytes, old_holder: str, new_dek: bytes, new_holder: str, service: StoredService
) -> StoredService:
    """The same service re-encrypted for its new holder (a transfer changes the data key)."""
    name = open_service(old_dek, old_holder, service)
    blob = encrypt_field(new_dek, new_holder, _service_field(service.id), name)
    return replace(service, name=blob)


def new_code() -> str:
    """A uniformly random six-digit one-time code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(keys: RegistryKeys, identification_id: str, code: str) -> bytes:
    """What is stored for a code: an HMAC bound to its identification, so a digest copied to
    another identification does not match there."""
    message = identification_id.encode("utf-8") + b"\0" + code.strip().encode("utf-8")
    return hmac.digest(keys.code_key, message, hashlib.sha256)


def code_matches(keys: RegistryKeys, identification_id: str, code: str, digest: bytes) -> bool:
    return hmac.compare_digest(code_digest(keys, identification_id, code), digest)


def open_contract(
    keys: RegistryKeys, holder: SealedCustomer, contract: StoredContract
) -> ContractView:
    """A contract with its services' names in clear, opened with its holder's data key."""
    dek = data_key(keys, holder) if contract.services else b""
    services = tuple(
        HostedService(s.id, s.kind, open_service(dek, holder.id, s)) for s in contract.services
    )
    return ContractView(
        contract.id,
        contract.holder_id,
        contract.status,
        contract.created_at,
        contract.cancelled_at,
        services,
    )
