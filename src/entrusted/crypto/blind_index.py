"""Keyed blind index (P1, P2): find a contract holder by e-mail or phone without decrypting.

Each customer row stores `HMAC-SHA256(index key, kind || 0x00 || canonical value)` next to the
encrypted value; support's search computes the same HMAC over what the caller says and looks up
the equal bytes. Why keyed: phone numbers and e-mail addresses are few enough to enumerate, so
a plain hash of them would be reversible by anyone holding the database; an HMAC is not,
without the key. Why its own key: the index key must be online for every search, while the
master key is needed only to open data keys; separate keys keep one from exposing the other,
and rotating the master key leaves every index valid.

Inputs must already be in the canonical form of `entrusted.domain.contacts` (the adapters'
`normalise_email` / `normalise_phone` produce it); case and surrounding blanks are folded here
too, so a typed lookup matches, but nothing is guessed. The kind prefix (``b"email\\0"``,
``b"phone\\0"``, same length, NUL at the same place) keeps the two kinds from ever colliding,
even for a string that could be read as both.

Changing the index key means recomputing every index, which needs the plaintexts; the key is
therefore long-lived and kept in its own 0600 file (or the environment).

>>> key = bytes(32)
>>> email_index(key, " Alice@Example.COM ") == email_index(key, "alice@example.com")
True
>>> len(phone_index(key, "+41440000000")) == INDEX_SIZE
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from entrusted.crypto.envelope import (
    KEY_SIZE,
    key_file_bytes,
    key_from_base64,
    key_from_file_bytes,
    read_key_file,
    write_key_file,
)
from entrusted.domain.contacts import canonical_email, canonical_phone
from entrusted.domain.registry import clean_ftp_name, clean_website
from entrusted.errors import InvalidInput

INDEX_SIZE = 32  # the whole HMAC-SHA256 output: no truncation, so no accidental matches
_EMAIL = b"email\0"
_PHONE = b"phone\0"
_SPACE = b"space\0"  # an FTP space's account name: its login name, found like a mailbox
_DOMAIN = b"dname\0"  # a hosted domain name (issue 17), found when a caller quotes it
_NUMBER = b"cusno\0"  # the hoster's own customer number (issue 17): personal-ish, so keyed
_LABEL = "entrusted-index-key-v1"
_FIELD = "index key"


def email_index(key: bytes, email: str) -> bytes:
    """The blind index of `email` (canonicalised first; InvalidInput "email" if it is not an
    address in canonical form)."""
    return _index(key, _EMAIL, canonical_email(email))


def phone_index(key: bytes, phone: str) -> bytes:
    """The blind index of `phone`, which must be in E.164 form (InvalidInput "phone" if not)."""
    return _index(key, _PHONE, canonical_phone(phone))


def ftp_space_index(key: bytes, name: str) -> bytes:
    """The blind index of an FTP space's account name (InvalidInput "name" if it is not one):
    the FTP server finds the space a login names without decrypting every space's name."""
    return _index(key, _SPACE, clean_ftp_name(name, "name"))


def domain_index(key: bytes, name: str) -> bytes:
    """The blind index of a hosted domain name (InvalidInput "domain" if it is not a host
    name); support finds the holder of a domain a caller quotes without decrypting names."""
    return _index(key, _DOMAIN, clean_website(name, "domain"))


def customer_number_index(key: bytes, number: str) -> bytes:
    """The blind index of the hoster's own customer number, as given (blanks around it
    ignored; `domain.provisioning.clean_external_id` checks its shape first)."""
    return _index(key, _NUMBER, number.strip())


def _index(key: bytes, kind: bytes, canonical: str) -> bytes:
    if len(key) != KEY_SIZE:
        raise InvalidInput(_FIELD, f"must be {KEY_SIZE} bytes, not {len(key)}")
    return hmac.digest(key, kind + canonical.encode("ascii"), hashlib.sha256)


def new_index_key() -> bytes:
    return secrets.token_bytes(KEY_SIZE)


def index_key_from_base64(value: str) -> bytes:
    """The index key given as standard base64 of 32 bytes (for `ENTRUSTED_INDEX_KEY`)."""
    return key_from_base64(value, _FIELD)


def create_index_key_file(path: Path) -> bytes:
    """A new index key, stored at `path` with mode 0600; Conflict if `path` exists."""
    key = new_index_key()
    write_key_file(path, _LABEL, key, _FIELD)
    return key


def index_key_file_bytes(key: bytes) -> bytes:
    """What `create_index_key_file` writes for `key` (for the key backup)."""
    return key_file_bytes(_LABEL, key)


def index_key_from_file_bytes(raw: bytes, where: str = "") -> bytes:
    return key_from_file_bytes(raw, _LABEL, _FIELD, where)


def load_index_key_file(path: Path) -> bytes:
    """The index key at `path`; InvalidInput if missing, garbled, a master-key file, or
    readable by others."""
    return read_key_file(path, _LABEL, _FIELD)
