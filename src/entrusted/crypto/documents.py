"""A court order's document, sealed (P2, P5): the file is kept only under a data key of its
own, wrapped by the master key, and bound to its order's id; its SHA-256 is kept in clear, so
the ledger and the disclosure can name exactly which document they rest on.

    >>> ring = Keyring(MasterKey.generate())
    >>> sealed = seal_document(ring, "cor_0000000000000000", b"%PDF-1.7 order")
    >>> open_document(ring, "cor_0000000000000000", sealed)
    b'%PDF-1.7 order'

A short text of the desk (a third-party request's `requester` and `asked`, which often name a
customer) is sealed the same way, under a data key of its own wrapped by the master key, and
bound to its record's id and its field's name; the wrapped key travels in the one stored value:

    >>> blob = seal_text(ring, "tpr_0000000000000000", "asked", "all data of a@example.com")
    >>> open_text(ring, "tpr_0000000000000000", "asked", blob)
    'all data of a@example.com'
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from entrusted.crypto.envelope import (
    Keyring,
    MasterKey,
    WrappedKey,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap,
    wrap,
)
from entrusted.errors import TamperDetected

__all__ = [
    "LEGACY_PLAINTEXT",
    "Keyring",
    "MasterKey",
    "SealedDocument",
    "open_document",
    "open_text",
    "seal_document",
    "seal_text",
]

_FIELD = "court_order_document"
# First byte of a stored desk text: sealed (this format), or a text stored in clear before
# migration 0019, which had no key to seal it with (it is read as it is; docs/disclosures.md).
SEALED_TEXT = 0x01
LEGACY_PLAINTEXT = 0x00
_TEXT_HEAD = struct.Struct(">BBH")  # format, length of the KEK id, length of the wrapped DEK


@dataclass(frozen=True, slots=True)
class SealedDocument:
    kek_id: str
    wrapped_key: bytes
    blob: bytes
    sha256: str  # of the document as received, hex


def seal_document(keyring: Keyring, order_id: str, content: bytes) -> SealedDocument:
    dek = new_data_key()
    wrapped = wrap(keyring.current, dek)
    text = base64.b64encode(content).decode("ascii")  # the field cipher takes text
    blob = encrypt_field(dek, order_id, _FIELD, text)
    return SealedDocument(
        wrapped.kek_id, wrapped.blob, blob, hashlib.sha256(content).hexdigest()
    )


def open_document(keyring: Keyring, order_id: str, sealed: SealedDocument) -> bytes:
    """The document; TamperDetected if it does not decrypt or no longer has its SHA-256."""
    dek = unwrap(keyring, WrappedKey(sealed.kek_id, sealed.wrapped_key))
    content = base64.b64decode(decrypt_field(dek, order_id, _FIELD, sealed.blob))
    if hashlib.sha256(content).hexdigest() != sealed.sha256:
        raise TamperDetected(f"the document of court order {order_id} changed since it was filed")
    return content


def seal_text(keyring: Keyring, record_id: str, field: str, text: str) -> bytes:
    """`0x01 || len(kek id) || len(wrapped DEK) || kek id || wrapped DEK || field cipher`, the
    field cipher's associated data binding `record_id` and `field` (`crypto/envelope.py`)."""
    dek = new_data_key()
    wrapped = wrap(keyring.current, dek)
    kek = wrapped.kek_id.encode("ascii")
    return b"".join(
        (_TEXT_HEAD.pack(SEALED_TEXT, len(kek), len(wrapped.blob)), kek, wrapped.blob,
         encrypt_field(dek, record_id, field, text))
    )  # fmt: skip


def open_text(keyring: Keyring, record_id: str, field: str, blob: bytes) -> str:
    """The text; a legacy value (from before migration 0019) as it was stored; TamperDetected
    if it was altered, moved to another record or field, or is in no known format."""
    if blob[:1] == bytes([LEGACY_PLAINTEXT]):
        try:
            return blob[1:].decode("utf-8")
        except UnicodeDecodeError:
            raise TamperDetected(f"the stored {field} of {record_id} is malformed") from None
    try:
        version, kek_len, key_len = _TEXT_HEAD.unpack(blob[: _TEXT_HEAD.size])
        start = _TEXT_HEAD.size
        kek = blob[start : start + kek_len].decode("ascii")
        key = blob[start + kek_len : start + kek_len + key_len]
        cipher = blob[start + kek_len + key_len :]
    except (struct.error, UnicodeDecodeError):
        raise TamperDetected(f"the stored {field} of {record_id} is malformed") from None
    if version != SEALED_TEXT or len(key) != key_len or not cipher:
        raise TamperDetected(f"the stored {field} of {record_id} is malformed")
    dek = unwrap(keyring, WrappedKey(kek, key))
    return decrypt_field(dek, record_id, field, cipher)
