"""What the portal's and the console's forms share: the field types both areas use, the one
way a handler takes a posted form from a signed-in user, and the sign-in form.

A field type caps what the field may carry, so an oversized value is refused (422) before a
service sees it; one definition per meaning keeps the two areas' sign-in and token fields
from drifting apart. Every POST is already checked by the app-wide `form_guard`; a handler
checks again through `posted` because the guard only refuses, and a handler needs the actor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from entrusted.domain.policy import Actor
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import Area, check_form, require, safe_next, signed_in

__all__ = ["Field", "Token", "posted", "signin_page"]

# A token or code a form may lack: its CSRF token, a mailed link's token, a TOTP code.
Token = Annotated[str | None, Form(max_length=200)]
# A sign-in or password-link field: a name, an address, a password, a link's token.
Field = Annotated[str, Form(max_length=500)]


def posted(request: Request, area: Area, csrf: str | None) -> Actor:
    """The signed-in sender of a form whose token is this browser's: a forged form is
    refused (and ledgered) before anyone is asked whether the sender may post it."""
    check_form(request, area, csrf)
    return require(request, area)


def signin_page(request: Request, area: Area, target: str | None) -> Response:
    """The area's sign-in form (`<area>/signin.html`), or straight on to `target` (made safe)
    for a visitor already signed in there: a bookmarked sign-in page does not ask twice."""
    if signed_in(request, area) is not None:
        return RedirectResponse(safe_next(area, target), 303)
    return render(request, area, f"{area.name}/signin.html", {"next": safe_next(area, target)})
