"""The canonical form of a contact e-mail address and phone number (P1).

Support finds a contract holder by e-mail or phone through a keyed blind index, and a blind
index only matches if both sides hashed byte-identical text. So there is exactly one written
form per address and number, and these checks define it:

- e-mail: ASCII, lower case, no surrounding blanks, an unquoted local part, and the domain in
  its IDNA ("xn--") form without a trailing dot;
- phone: E.164, a "+" and up to fifteen digits.

Turning what a person typed ("Alice@Bücher.example ", "044 000 00 00") into that form needs
the IDNA tables and the world's numbering plans, so it happens in
`entrusted.adapters.contacts`; this module only recognises the result. It refuses anything it
would otherwise have to guess at (a Unicode domain, a national number), because two IDNA
implementations or two guesses at a region disagreeing would make a lookup silently miss.
"""

from __future__ import annotations

import re
import string

from entrusted.errors import InvalidInput

# RFC 5322 atext plus the dot of a dot-atom: everything an unquoted local part may hold.
_LOCAL_CHARS = frozenset(string.ascii_lowercase + string.digits + "!#$%&'*+-/=?^_`{|}~.")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_E164_RE = re.compile(r"\+[1-9][0-9]{1,14}", re.ASCII)
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 path limit minus the angle brackets


def canonical_email(value: str, field: str = "email") -> str:
    """`value` in canonical form; InvalidInput naming `field` if it is not an address in the
    ASCII, IDNA form that `adapters.contacts.normalise_email` produces.

    Case and blanks are folded here (not only in the adapter) so that a lookup typed by hand
    still matches: "Alice@Example.COM " and "alice@example.com" index the same.

    >>> canonical_email(" Alice@Example.COM ")
    'alice@example.com'
    """
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInput(field, "is not an e-mail address (expected local-part@domain)")
    if not text.isascii():
        raise InvalidInput(
            field,
            "must be ASCII: normalise it first, so an international domain becomes its "
            "IDNA 'xn--' form",
        )
    domain = domain.removesuffix(".")
    if (
        len(local) > MAX_LOCAL_PART
        or not set(local) <= _LOCAL_CHARS
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise InvalidInput(field, "the part before the @-sign is not a plain local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidInput(field, "the part after the @-sign is not a domain name")
    address = f"{local}@{domain}"
    if len(address) > MAX_ADDRESS:
        raise InvalidInput(field, f"is longer than {MAX_ADDRESS} characters")
    return address


def canonical_phone(value: str, field: str = "phone") -> str:
    """`value` if it is an E.164 number ("+41440000000"); InvalidInput naming `field` if not.

    A national number cannot be read without knowing its country, which is a decision for the
    caller (see `adapters.contacts.normalise_phone`), not something to guess here.

    >>> canonical_phone(" +41440000000 ")
    '+41440000000'
    """
    text = value.strip()
    if not _E164_RE.fullmatch(text):
        raise InvalidInput(
            field, "is not in E.164 form (+ and up to 15 digits); normalise it first"
        )
    return text
