"""Envelope encryption of personal details (P2): a master key wraps one data key per customer.

Why two levels: the master key (KEK) lives outside the database (a key file or the
environment), so a stolen database or backup holds only ciphertext. Each customer's fields are
encrypted under that customer's own data key (DEK), and only the DEK, wrapped by the KEK, is
stored next to them. Rotating the KEK therefore re-wraps one small value per customer and never
touches the encrypted fields (`services.keys.rotate`), and erasing one customer's wrapped DEK
shreds every copy of their details, backups included.

Formats (the first byte of each is a version, so a later format can be read beside this one):

- wrapped DEK: ``0x01 || AES-KW(KEK, DEK)`` (RFC 3394; 40 bytes after the version). Key wrap is
  deterministic and needs no nonce, which suits a value rewritten by a restartable job: two
  rotators that race produce the same bytes. It carries no associated data; a DEK swapped to
  another customer's row is still caught, because the fields it would unlock bind their own
  customer id (below) and fail to decrypt.
- field: ``0x01 || nonce (12) || AES-256-GCM(DEK, nonce, plaintext, AD)`` with
  ``AD = 0x01 || len(customer id) || customer id || len(field) || field`` (lengths as 2-byte
  big-endian, so ("ab", "c") and ("a", "bc") differ). A ciphertext copied to another customer
  or into another column fails authentication, which is reported as `TamperDetected`.

Nonces are random: at 2^32 encryptions per DEK the collision risk stays below NIST's 2^-32
bound, and a customer's details are rewritten a handful of times, not billions.

```python
kek = MasterKey.generate()
dek = new_data_key()
wrapped = wrap(kek, dek)                       # stored with the customer
blob = encrypt_field(dek, "cus_1", "email", "alice@example.com")
dek = unwrap(Keyring(kek), wrapped)
assert decrypt_field(dek, "cus_1", "email", blob) == "alice@example.com"
```
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from entrusted.crypto.keyfiles import create_private_file, read_private_file
from entrusted.errors import InvalidInput, TamperDetected, Unavailable

VERSION = 1
_VERSION_BYTE = bytes([VERSION])
KEY_SIZE = 32  # AES-256 for the KEK, the DEKs and (by convention) the blind-index key
NONCE_SIZE = 12  # 96 bits, the size GCM is specified for
TAG_SIZE = 16
_WRAPPED_SIZE = 1 + KEY_SIZE + 8  # version + RFC 3394 output (input + one 64-bit block)
_MIN_FIELD_SIZE = 1 + NONCE_SIZE + TAG_SIZE
_MAX_KEY_FILE = 1024
_KEK_LABEL = "entrusted-master-key-v1"
_KEK_FIELD = "master key"


def key_id(material: bytes) -> str:
    """A short public name for a key: the first 8 hex digits of SHA-256 of it.

    Publishing it is safe because the key is 256 random bits (the hash reveals nothing that
    helps guess it); it lets each wrapped DEK say which KEK wrapped it, so a rotation knows
    what is left and an unwrap with the wrong keyring names the key that is missing.
    """
    return hashlib.sha256(material).hexdigest()[:8]


@dataclass(frozen=True, repr=False)
class MasterKey:
    """A key-encryption key (KEK). `repr` shows only its id, so logs never carry the key.

    >>> kek = MasterKey(bytes(32))
    >>> kek
    MasterKey(66687aad)
    """

    material: bytes
    kek_id: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_SIZE:
            raise InvalidInput(_KEK_FIELD, f"must be {KEY_SIZE} bytes, not {len(self.material)}")
        object.__setattr__(self, "kek_id", key_id(self.material))

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_SIZE))

    def __repr__(self) -> str:
        return f"MasterKey({self.kek_id})"


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: the id of the KEK that wrapped it and the wrapped bytes."""

    kek_id: str
    blob: bytes


class Keyring:
    """The current master key plus old ones, kept only while a rotation is under way.

    New data keys are wrapped by `current`; `unwrap` accepts any key on the ring. Once
    `services.keys.rotate` reports nothing left under an old key, that key can be dropped.

    >>> old, new = MasterKey.generate(), MasterKey.generate()
    >>> ring = Keyring(new, [old])
    >>> ring.get(old.kek_id) is old and ring.current is new
    True
    """

    def __init__(self, current: MasterKey, old: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._by_id: dict[str, MasterKey] = {current.kek_id: current}
        for key in old:
            known = self._by_id.setdefault(key.kek_id, key)
            if known.material != key.material:
                # 32-bit ids collide by chance about once in 2^16 keys on one ring; refuse
                # rather than unwrap with the wrong key and report tampering.
                raise InvalidInput(_KEK_FIELD, f"two different keys share the id {key.kek_id}")

    @property
    def current(self) -> MasterKey:
        return self._current

    @property
    def kek_ids(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def get(self, kek_id: str) -> MasterKey | None:
        return self._by_id.get(kek_id)

    def __repr__(self) -> str:
        return f"Keyring(current={self._current.kek_id}, ids={sorted(self._by_id)})"


def new_data_key() -> bytes:
    """A fresh 256-bit data key (DEK) for one customer."""
    return secrets.token_bytes(KEY_SIZE)


def wrap(kek: MasterKey, dek: bytes) -> WrappedKey:
    """`dek` wrapped by `kek` (AES-KW), labelled with the KEK's id."""
    _check_dek(dek)
    return WrappedKey(kek.kek_id, _VERSION_BYTE + aes_key_wrap(kek.material, dek))


def unwrap(keyring: Keyring, wrapped: WrappedKey) -> bytes:
    """The data key inside `wrapped`.

    Unavailable if the KEK that wrapped it is not on the ring (a configuration problem: the
    old key was dropped before rotation finished); TamperDetected if the bytes do not unwrap.
    """
    kek = keyring.get(wrapped.kek_id)
    if kek is None:
        raise Unavailable(
            f"data key is wrapped by master key {wrapped.kek_id}, which is not loaded "
            f"(loaded: {', '.join(sorted(keyring.kek_ids))}); keep the old master key until "
            "`entrusted keys rotate` has finished"
        )
    blob = wrapped.blob
    if len(blob) != _WRAPPED_SIZE or blob[:1] != _VERSION_BYTE:
        raise TamperDetected(f"wrapped data key under {wrapped.kek_id} is malformed")
    try:
        return aes_key_unwrap(kek.material, blob[1:])
    except InvalidUnwrap:
        raise TamperDetected(
            f"wrapped data key under {wrapped.kek_id} does not unwrap (altered or swapped)"
        ) from None


def rewrap(keyring: Keyring, wrapped: WrappedKey, new_kek: MasterKey) -> WrappedKey:
    """`wrapped`'s data key wrapped under `new_kek`; the key itself does not change."""
    return wrap(new_kek, unwrap(keyring, wrapped))


def encrypt_field(dek: bytes, customer_id: str, field: str, plaintext: str) -> bytes:
    """`plaintext` encrypted under `dek`, bound to this customer and field (see module doc)."""
    _check_dek(dek)
    nonce = os.urandom(NONCE_SIZE)
    sealed = AESGCM(dek).encrypt(
        nonce, plaintext.encode("utf-8"), _associated_data(customer_id, field)
    )
    return _VERSION_BYTE + nonce + sealed


def decrypt_field(dek: bytes, customer_id: str, field: str, ciphertext: bytes) -> str:
    """The plaintext of `ciphertext`; TamperDetected on any failure to authenticate, which
    includes a wrong key and a ciphertext moved from another customer or field."""
    _check_dek(dek)
    where = f"field {field!r} of customer {customer_id}"
    if len(ciphertext) < _MIN_FIELD_SIZE:
        raise TamperDetected(f"{where} is too short to be a ciphertext")
    if ciphertext[:1] != _VERSION_BYTE:
        raise TamperDetected(f"{where} has unknown ciphertext version {ciphertext[0]}")
    nonce = ciphertext[1 : 1 + NONCE_SIZE]
    try:
        plaintext = AESGCM(dek).decrypt(
            nonce, ciphertext[1 + NONCE_SIZE :], _associated_data(customer_id, field)
        )
    except InvalidTag:
        raise TamperDetected(f"{where} does not decrypt (altered, moved or wrong key)") from None
    return plaintext.decode("utf-8")


def _associated_data(customer_id: str, field: str) -> bytes:
    cid = customer_id.encode("utf-8")
    name = field.encode("utf-8")
    if len(cid) > 0xFFFF or len(name) > 0xFFFF:
        raise InvalidInput("customer id", "customer id or field name is too long")
    return b"".join(
        (_VERSION_BYTE, struct.pack(">H", len(cid)), cid, struct.pack(">H", len(name)), name)
    )


def _check_dek(dek: bytes) -> None:
    if len(dek) != KEY_SIZE:
        raise InvalidInput("data key", f"must be {KEY_SIZE} bytes, not {len(dek)}")


# --- master key from the environment or a key file -------------------------------------------


def master_key_from_base64(value: str) -> MasterKey:
    """The master key given as standard base64 of 32 bytes (for `ENTRUSTED_MASTER_KEY`)."""
    return MasterKey(key_from_base64(value, _KEK_FIELD))


def create_master_key_file(path: Path) -> MasterKey:
    """A new master key, stored at `path` with mode 0600; Conflict if `path` exists."""
    key = MasterKey.generate()
    write_key_file(path, _KEK_LABEL, key.material, _KEK_FIELD)
    return key


def master_key_file_bytes(key: MasterKey) -> bytes:
    """What `create_master_key_file` writes for `key` (for the key backup)."""
    return key_file_bytes(_KEK_LABEL, key.material)


def master_key_from_file_bytes(raw: bytes, where: str = "") -> MasterKey:
    return MasterKey(key_from_file_bytes(raw, _KEK_LABEL, _KEK_FIELD, where))


def load_master_key_file(path: Path) -> MasterKey:
    """The master key at `path`; InvalidInput if missing, garbled or readable by others."""
    return MasterKey(read_key_file(path, _KEK_LABEL, _KEK_FIELD))


def key_from_base64(value: str, field: str) -> bytes:
    """32 key bytes from standard base64; InvalidInput naming `field` otherwise. The message
    never quotes `value`: it is the key."""
    try:
        material = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidInput(field, "is not standard base64") from None
    if len(material) != KEY_SIZE:
        raise InvalidInput(field, f"must decode to {KEY_SIZE} bytes, not {len(material)}")
    return material


def write_key_file(path: Path, label: str, material: bytes, field: str) -> None:
    """Store `material` at `path` as one line ``<label>:<base64>``, mode 0600.

    The label tells a master-key file from a blind-index-key file, so a swapped setting is an
    error rather than silently wrong results. The file appears complete or not at all: it is
    written to a private temporary file (O_CREAT|O_EXCL, 0600) and hard-linked into place, and
    the link fails if `path` is taken, so an existing key is never overwritten.
    """
    create_private_file(path, key_file_bytes(label, material), field)


def key_file_bytes(label: str, material: bytes) -> bytes:
    """The bytes of a key file: one line ``<label>:<base64>`` (the key: handle as such)."""
    return f"{label}:{base64.b64encode(material).decode('ascii')}\n".encode("ascii")


def read_key_file(path: Path, label: str, field: str) -> bytes:
    """The key bytes in a file written by `write_key_file` with the same `label`.

    Refused (InvalidInput) when group or others have any access: a key that others could read
    must be treated as leaked, and saying so is better than quietly using it. The mode is read
    from the opened descriptor, so swapping the file after the check changes nothing.
    """
    return key_from_file_bytes(read_private_file(path, field, _MAX_KEY_FILE), label, field, path)


def key_from_file_bytes(raw: bytes, label: str, field: str, path: Path | str = "") -> bytes:
    """The key in a key file's bytes (`key_file_bytes`); InvalidInput, never quoting them."""
    try:
        found_label, sep, encoded = raw.decode("ascii").strip().partition(":")
    except UnicodeDecodeError:
        raise InvalidInput(field, f"key file {path} is not a key file (not ASCII)") from None
    if not sep or found_label != label:
        # The label is not secret, but an unlabelled file might be bare key material: only
        # say what was expected.
        raise InvalidInput(field, f"key file {path} is not a {label} file")
    return key_from_base64(encoded, field)
