"""What the console pages share: the form field types (`Token` re-exported from `web.forms`,
the portal's too), `blank`, and (re-exported from `web.ids`, the one check the portal uses
too) the shape check every id from a path or a form goes through before a service sees it: a
malformed id is a ledgered 422 page named `invalid` in the ledger, never the text sent, never
a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form

from entrusted.entrypoints.web.forms import Token
from entrusted.entrypoints.web.ids import checked, id_list, optional

__all__ = [
    "Check", "IdField", "Line", "Sessions", "Text", "Token",
    "blank", "checked", "id_list", "optional",
]

IdField = Annotated[str, Form(max_length=64)]
Line = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=500)]
Check = Annotated[bool, Form()]
Sessions = Annotated[int, Form(ge=1, le=20)]


def blank(value: str | None) -> str | None:
    """A free-text field left empty is no value."""
    text = (value or "").strip()
    return text or None
