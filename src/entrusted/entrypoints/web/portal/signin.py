"""Signing in and out of the portal, and setting a password from the link a mail carries.

Sign-in answers one message whatever was wrong (no page tells whether an address is a
customer's), and a reset request always answers "if the address is ours, a link is on its
way" (no user enumeration). Beyond the hourly limit of link requests per address (which
anyone can use up) the page says, with the 429, that a link was already sent and the newest
works: the limit counts every address alike, so the answer tells nothing either. The
password link carries its token in the URL fragment, which browsers never send: the page's
script copies it into the form.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.entrypoints.web.forms import Field, Token, signin_page
from entrusted.entrypoints.web.pages import render, sections
from entrusted.entrypoints.web.sessions import (
    PORTAL,
    check_form,
    container_of,
    require,
    safe_next,
    signed_in_answer,
    signed_out_answer,
)
from entrusted.errors import AuthenticationFailed, InvalidInput, RateLimited

router = APIRouter()


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/")
def home(request: Request) -> Response:
    actor = require(request, PORTAL)
    return render(
        request, PORTAL, "portal/home.html", {"customer_id": actor.id, "sections": sections(PORTAL)}
    )


@router.get("/signin")
def signin_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    return signin_page(request, PORTAL, next)


@router.post("/signin")
def signin(
    request: Request,
    email: Field,
    password: Field,
    csrf: Token = None,
    next: Field = "",  # noqa: A002
) -> Response:
    check_form(request, PORTAL, csrf)
    try:
        issued = container_of(request).customer_auth.login(email, password, _address(request))
    except AuthenticationFailed:
        context = {"next": safe_next(PORTAL, next), "failed": True, "email": email}
        return render(request, PORTAL, "portal/signin.html", context, status=401)
    return signed_in_answer(request, PORTAL, issued.secret, next)


@router.post("/signout")
def signout(request: Request, csrf: Token = None) -> Response:
    check_form(request, PORTAL, csrf)
    return signed_out_answer(request, PORTAL)


@router.get("/password-reset")
def reset_form(request: Request) -> Response:
    return render(request, PORTAL, "portal/reset.html")


@router.post("/password-reset")
def reset(request: Request, email: Field, csrf: Token = None) -> Response:
    check_form(request, PORTAL, csrf)
    # a malformed address answers as one that is not ours: no enumeration
    c = container_of(request)
    try:
        with suppress(InvalidInput):
            c.customer_auth.request_link(email)
    except RateLimited as exc:
        # Not ledgered, like the service's other refusals before a customer is known (the
        # request never looks one up); the status and Retry-After are what errors.py sends.
        again = c.clock() + timedelta(seconds=exc.retry_after_s)
        return render(
            request, PORTAL, "portal/reset.html", {"limited": True, "again": again},
            status=429, headers={"Retry-After": str(exc.retry_after_s)},
        )  # fmt: skip
    return render(request, PORTAL, "portal/reset.html", {"sent": True})


@router.get("/password")
def password_form(request: Request) -> Response:
    return render(request, PORTAL, "portal/password.html")


@router.post("/password")
def set_password(request: Request, token: Field, password: Field, csrf: Token = None) -> Response:
    check_form(request, PORTAL, csrf)
    try:
        container_of(request).customer_auth.set_password(token, password)
    except InvalidInput as exc:
        context = {"error": exc.message, "field": exc.field}
        return render(request, PORTAL, "portal/password.html", context, status=422)
    return render(request, PORTAL, "portal/password.html", {"done": True})
