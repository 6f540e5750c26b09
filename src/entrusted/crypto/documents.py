"""A court order's document, sealed (P2, P5): the file is kept only under a data key of its
own, wrapped by the master key, and bound to its order's id; its SHA-256 is kept in clear, so
the ledger and the disclosure can name exactly which document they rest on.

    >>> ring = Keyring(MasterKey.generate())
    >>> sealed = seal_document(ring, "cor_0000000000000000", b"%PDF-1.7 order")
    >>> open_document(ring, "cor_0000000000000000", sealed)
    b'%PDF-1.7 order'
"""

from __future__ import annotations

import base64
import hashlib
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

__all__ = ["Keyring", "MasterKey", "SealedDocument", "open_document", "seal_document"]

_FIELD = "court_order_document"


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
