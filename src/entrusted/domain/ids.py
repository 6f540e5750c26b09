"""The shape of the ids Entrusted generates (`crypto.secrets.new_id`): a prefix naming the
kind, an underscore and 16 lowercase hex digits (`cus_0123456789abcdef`).

Why a shape check: ids arrive from outside (URL paths, request bodies, query strings, CLI
arguments) and reach the ledger as resource ids, owners and case references. Without a check,
any text (an e-mail address typed into the id field, a name) would be written into the
append-only ledger, where it can never be erased. Each entrypoint checks ids against this one
table before anything else, and refuses text of any other shape without writing it anywhere.

    >>> is_id(IdKind.CUSTOMER, "cus_0123456789abcdef")
    True
    >>> is_id(IdKind.CUSTOMER, "anna@example.com")
    False
"""

from __future__ import annotations

import re
from enum import StrEnum

ID_HEX_DIGITS = 16  # `new_id` draws 8 random bytes
INVALID_ID = "invalid"  # what the ledger names instead of text that is no id


class IdKind(StrEnum):
    """The prefix of each kind of id that requests name."""

    CUSTOMER = "cus"
    CONTRACT = "ctr"
    SERVICE = "svc"
    CASE = "case"
    ACCESS_REQUEST = "acr"
    GRANT = "gnt"
    GRANT_SESSION = "gss"
    IDENTIFICATION = "idn"
    BACKUP = "bkp"
    MAILING = "mlg"
    THIRD_PARTY_REQUEST = "tpr"
    COURT_ORDER = "cor"
    DISCLOSURE = "dsc"

    @property
    def example(self) -> str:
        return f"{self.value}_{'0' * ID_HEX_DIGITS}"


_HEX = re.compile(rf"[0-9a-f]{{{ID_HEX_DIGITS}}}")


def is_id(kind: IdKind, value: str) -> bool:
    """Whether `value` has the shape of an id of `kind` (not whether it exists)."""
    prefix, sep, rest = value.partition("_")
    return sep == "_" and prefix == kind.value and _HEX.fullmatch(rest) is not None


def id_problem(kind: IdKind) -> str:
    """The message for text that is no id of `kind`; it never quotes the text."""
    noun = kind.name.lower().replace("_", " ")
    article = "an" if noun[0] in "aeiou" else "a"
    return f"is not {article} {noun} id (like {kind.example})"
