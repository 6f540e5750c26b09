"""Who is signed in on a page, and the token every form must carry.

The portal and the console each keep their session in their own cookie: the portal's holds a
customer token (`entc_…`), the console's a staff login session. A staff token in the portal's
cookie, or a customer's in the console's, signs nobody in (the issue's "customer pages deny
staff tokens and vice versa"). Cookies are HttpOnly and SameSite=Strict.

Behind TLS the session and visitor cookies are named `__Host-…`, Secure, for Path=/ and
without Domain: a browser keeps such a cookie only from this very host over https, so a
sibling subdomain (which may set cookies for the whole parent domain) cannot plant a visitor
cookie whose forms it knows the token of (login CSRF), nor a session. The plain names are not
read there. Over plain HTTP (loopback, development) browsers refuse the prefix, so the plain
names stay, each scoped to its area's path.

Forms carry a CSRF token derived from the secret the browser holds in an HttpOnly cookie (the
session, or before sign-in a random visitor cookie), so a page on another site can neither
read nor forge it; `check_form` compares in constant time and ledgers a mismatch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind
from entrusted.entrypoints.web.security import secure_cookies
from entrusted.errors import AuthenticationFailed
from entrusted.services.customer_auth import is_customer_token
from entrusted.services.forms import FormGuard

VISITOR_COOKIE = "entrusted_visitor"
HOST_PREFIX = "__Host-"
LANGUAGE_COOKIE = "entrusted_lang"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600  # the tokens' own lifetime (services: SESSION_TTL)
_LABEL = b"entrusted page form v1"


@dataclass(frozen=True, slots=True)
class Area:
    """One of the two signed-in areas: its name, cookie and path."""

    name: Literal["portal", "console"]
    cookie: str
    path: str


PORTAL = Area("portal", "entrusted_portal", "/portal")
CONSOLE = Area("console", "entrusted_console", "/console")


class SignInNeeded(Exception):  # noqa: N818 - a page answer, like the error tree's
    """The page needs a signed-in actor of its area; the error handler sends them to sign in."""

    def __init__(self, area: Area) -> None:
        super().__init__(f"sign in to the {area.name}")
        self.area = area


def container_of(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def session_cookie(request: Request, area: Area) -> str:
    """The name `area`'s session cookie has on this request: `__Host-` prefixed behind TLS."""
    return HOST_PREFIX + area.cookie if _secure(request) else area.cookie


def visitor_cookie(request: Request, area: Area) -> str:
    """The visitor cookie's name on this request. Behind TLS it is one per area: with Path=/
    a shared one would be dropped by a sign-in to the other area, and this area's open
    sign-in form refused as forged."""
    return f"{HOST_PREFIX}{VISITOR_COOKIE}_{area.name}" if _secure(request) else VISITOR_COOKIE


def cookie_path(request: Request, area: Area) -> str:
    """`__Host-` cookies must be for Path=/ (the names keep the areas apart); plain ones are
    scoped to the area."""
    return "/" if _secure(request) else area.path


def session_secret(request: Request, area: Area) -> str | None:
    secret = request.cookies.get(session_cookie(request, area))
    return secret if secret and len(secret) <= 200 else None


def signed_in(request: Request, area: Area) -> Actor | None:
    """The actor this area's cookie stands for, or None (no cookie, a token of the other
    kind, or one expired or revoked). Cached on the request: one lookup per page."""
    cache = f"_signed_in_{area.name}"
    if hasattr(request.state, cache):
        cached: Actor | None = getattr(request.state, cache)
        return cached
    actor = _resolve(request, area)
    setattr(request.state, cache, actor)
    return actor


def _resolve(request: Request, area: Area) -> Actor | None:
    secret = session_secret(request, area)
    if secret is None or is_customer_token(secret) != (area is PORTAL):
        return None
    c = container_of(request)
    try:
        if area is PORTAL:
            return c.customer_auth.authenticate(secret)
        actor = c.staff.authenticate(secret)
    except AuthenticationFailed:
        return None
    return actor if actor.kind is ActorKind.STAFF else None


def require(request: Request, area: Area) -> Actor:
    actor = signed_in(request, area)
    if actor is None:
        raise SignInNeeded(area)
    return actor


def csrf_token(request: Request, area: Area) -> str:
    """The token this browser's forms in `area` carry: bound to its session, or before sign-in
    to a visitor cookie (created here, set on the answer by `set_visitor`)."""
    binding = session_secret(request, area) if signed_in(request, area) else None
    if binding is None:
        binding = request.cookies.get(visitor_cookie(request, area))
        binding = binding or getattr(request.state, "visitor", None)
        if binding is None or len(binding) > 200:
            binding = secrets.token_urlsafe(32)
            request.state.visitor = binding
    return _derive(area, binding)


def _derive(area: Area, binding: str) -> str:
    return hmac.new(binding.encode(), _LABEL + area.name.encode(), hashlib.sha256).hexdigest()


def check_form(request: Request, area: Area, submitted: str | None) -> Actor | None:
    """Refuse (ledgered `web.form-forged`) a form whose token is missing or not this
    browser's; returns the signed-in actor (or None on an anonymous form).

    A token bound to the visitor cookie is this browser's too: a customer already signed in
    who opens a mailed link arrives from another site, so the browser sends no SameSite=Strict
    cookie with that first request and the page's form is bound to a visitor cookie; the form
    posted from our own page then carries both cookies."""
    actor = signed_in(request, area)
    bindings = [session_secret(request, area) if actor else None]
    bindings.append(request.cookies.get(visitor_cookie(request, area)))
    token = submitted if submitted and len(submitted) <= 200 else ""
    if not any(
        b and len(b) <= 200 and hmac.compare_digest(_derive(area, b), token) for b in bindings
    ):
        FormGuard(container_of(request).gate).refuse(actor, request.url.path)
    return actor


async def form_guard(request: Request) -> None:
    """Every POST of a page app, checked before its fields are validated: a forged form with
    a malformed field is refused as forged (and ledgered), not answered 422. A dependency of
    the whole app, so a route added later cannot forget it."""
    if request.method != "POST":
        return
    area: Area = request.app.state.area
    form = await request.form()
    token = form.get(CSRF_FIELD)
    await run_in_threadpool(check_form, request, area, token if isinstance(token, str) else None)


def set_visitor(request: Request, response: Response, area: Area) -> None:
    """Give the browser the visitor cookie a form's token was derived from, if new."""
    visitor = getattr(request.state, "visitor", None)
    name = visitor_cookie(request, area)
    if visitor is not None and name not in request.cookies:
        response.set_cookie(
            name, visitor, path=cookie_path(request, area), httponly=True, samesite="strict",
            secure=_secure(request),
        )  # fmt: skip


def start_session(request: Request, response: Response, area: Area, secret: str) -> None:
    path, secure = cookie_path(request, area), _secure(request)
    response.set_cookie(
        session_cookie(request, area), secret, max_age=SESSION_SECONDS, path=path,
        httponly=True, samesite="strict", secure=secure,
    )  # fmt: skip
    # the visitor cookie's forms are done: a new binding (the session) starts with sign-in
    # (deleted with the flags it was set with: a browser ignores a `__Host-` one without them)
    response.delete_cookie(
        visitor_cookie(request, area), path=path, secure=secure, httponly=True,
        samesite="strict",
    )  # fmt: skip


def end_session(request: Request, response: Response, area: Area) -> None:
    response.delete_cookie(
        session_cookie(request, area), path=cookie_path(request, area),
        secure=_secure(request), httponly=True, samesite="strict",
    )  # fmt: skip


def signed_in_answer(request: Request, area: Area, secret: str, target: str) -> Response:
    """After a sign-in: to `target` (inside the area only), holding the new session."""
    answer = RedirectResponse(safe_next(area, target), 303)
    start_session(request, answer, area, secret)
    return answer


def signed_out_answer(request: Request, area: Area) -> Response:
    """Sign out: the token is revoked on the server (a copied cookie signs nobody in after
    this), the cookie dropped, and the browser sent to the area's sign-in."""
    secret = session_secret(request, area)
    if secret is not None:
        c = container_of(request)
        (c.customer_auth.sign_out if area is PORTAL else c.staff.sign_out)(secret)
    answer = RedirectResponse(f"{area.path}/signin", 303)
    end_session(request, answer, area)
    return answer


def _secure(request: Request) -> bool:
    return secure_cookies(request, container_of(request).settings.portal_url)


def safe_next(area: Area, target: str | None) -> str:
    """Where to go after sign-in: only a path inside the area (no other host, no `//`, no
    `..` or encoded slash that a browser would resolve to outside it)."""
    home = area.path + "/"
    if not target or len(target) > 500 or "\\" in target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(area.path + "/"):
        return home
    lowered = unquote(parts.path).lower()
    if target.startswith("//") or "/." in lowered or "%2f" in parts.path.lower():
        return home
    return target
