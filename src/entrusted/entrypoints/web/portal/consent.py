"""Consent in the portal (P9, P10, P11): the page every access-request mail links to
(`/portal/access-requests/{id}#token=…`), the "this was not me" page of a verbal-consent
receipt (`/portal/not-me#token=…`) and the customer's active grants with a revoke button.

The same service calls as `POST /v1/access-requests/{id}/approve|deny`, `POST
/v1/grants/not-me` and `POST /v1/grants/{id}/revoke`: the gate decides and the ledger records;
a refusal (a spent link, a lapsed request, another customer's request) reaches the error page
with its rule.

The link's token sits in the URL fragment, which no browser sends: it never reaches a URL
query or a server log. Approving needs the link *and* the holder's sign-in, so an anonymous
visitor gets a sign-in form on this very page; `static/consent.js` keeps the token in the
tab's sessionStorage across sign-in and copies it into the approve form's hidden `token`
field, and it travels only in that form's body.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.ids import IdKind, is_id
from entrusted.domain.policy import Action, Actor
from entrusted.entrypoints.web.forms import Token, posted
from entrusted.entrypoints.web.ids import checked
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.portal import me
from entrusted.entrypoints.web.sessions import PORTAL, check_form, container_of, require, signed_in
from entrusted.errors import AuthenticationFailed, NotFound

router = APIRouter()


def _answering(request: Request, request_id: str, action: Action, csrf: str | None) -> Actor:
    """The holder answering an access request: approving and denying both post the
    holder's form and name the request, whose id is checked before the service is asked."""
    actor = posted(request, PORTAL, csrf)
    checked(request, actor, action, "request_id", request_id)
    return actor


# --- the access request of a mailed link ---------------------------------------------------


@router.get("/access-requests/{request_id}")
def access_request(request: Request, request_id: str) -> Response:
    actor = signed_in(request, PORTAL)
    if actor is None:
        if not is_id(IdKind.ACCESS_REQUEST, request_id):  # nobody to ledger it under
            raise NotFound("access request", "invalid")
        context = {"next": request.url.path}
        return render(request, PORTAL, "portal/access_request_signin.html", context)
    checked(request, actor, Action.READ, "request_id", request_id)
    view = container_of(request).consent.request_view(actor, request_id)
    return me.page(request, actor, "portal/access_request.html", {"view": view})


@router.post("/access-requests/{request_id}/approve")
def approve(request: Request, request_id: str, token: Token = None, csrf: Token = None) -> Response:
    actor = _answering(request, request_id, Action.APPROVE, csrf)
    c = container_of(request)
    if not token:  # the page was opened without its link: ask for the link, change nothing
        asked = c.consent.request_view(actor, request_id)
        context = {"view": asked, "no_token": True}
        return me.page(request, actor, "portal/access_request.html", context, status=422)
    grant = c.consent.approve(actor, request_id, token)
    given = c.grants.view(actor, grant.id)
    return me.page(request, actor, "portal/access_request_answered.html", {"grant": given})


@router.post("/access-requests/{request_id}/deny")
def deny(request: Request, request_id: str, token: Token = None, csrf: Token = None) -> Response:
    actor = _answering(request, request_id, Action.DELETE, csrf)
    c = container_of(request)
    c.consent.deny(actor, request_id, token or None)
    view = c.consent.request_view(actor, request_id)
    return me.page(request, actor, "portal/access_request_answered.html", {"denied": view})


# --- "this was not me" from a verbal-consent receipt ---------------------------------------


@router.get("/not-me")
def not_me_form(request: Request) -> Response:
    return render(request, PORTAL, "portal/not_me.html")


@router.post("/not-me")
def not_me(request: Request, token: Token = None, csrf: Token = None) -> Response:
    # No sign-in: the link itself went to the address on file (as `POST /v1/grants/not-me`).
    check_form(request, PORTAL, csrf)
    if not token:
        return render(request, PORTAL, "portal/not_me.html", {"no_token": True}, status=422)
    try:
        ended = container_of(request).verbal_consent.not_me_view(token)
    except AuthenticationFailed:
        return render(request, PORTAL, "portal/not_me.html", {"bad_link": True}, status=401)
    return render(request, PORTAL, "portal/not_me.html", {"ended": ended})


# --- my active grants ------------------------------------------------------------------------


@router.get("/grants")
def grants(request: Request, revoked: str | None = None) -> Response:
    actor = require(request, PORTAL)
    found = container_of(request).grants.active_for_customer(actor)
    done = revoked if revoked and is_id(IdKind.GRANT, revoked) else None
    return me.page(request, actor, "portal/grants.html", {"grants": found, "revoked": done})


@router.post("/grants/{grant_id}/revoke")
def revoke(request: Request, grant_id: str, csrf: Token = None) -> Response:
    actor = posted(request, PORTAL, csrf)
    checked(request, actor, Action.DELETE, "grant_id", grant_id)
    container_of(request).grants.revoke(actor, grant_id)
    return RedirectResponse(f"{PORTAL.path}/grants?revoked={grant_id}", 303)
