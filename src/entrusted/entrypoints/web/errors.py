"""The pages' own error handler: the same exception tree the API maps to problem bodies
(errors.py), mapped once here to HTML pages with the same statuses, in the visitor's
language. A page that needs a signed-in visitor sends an anonymous one to sign in (303)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from entrusted import errors
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import Area, SignInNeeded

log = logging.getLogger(__name__)

STATUS: dict[type[errors.EntrustedError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.AuthenticationFailed: 401,
    errors.RateLimited: 429,
    errors.Refused: 403,
    errors.Unavailable: 503,
    errors.TamperDetected: 500,
}
# What a 503 page tells the browser to wait: the figure the API's problem answers send too
# (`errors.Unavailable`; the entrypoints may not import each other).
UNAVAILABLE_RETRY_AFTER_S = errors.Unavailable.retry_after_s


def install(app: FastAPI, area: Area) -> None:
    """Answer every error of `app`'s pages with an HTML page of `area`."""

    def page(
        request: Request, status: int, message: str, retry: int | str | None = None, **extra: object
    ) -> Response:
        # `retry` is the header alone; a 429's wait is also said on the page (`retry_after`)
        headers = {} if retry is None else {"Retry-After": str(retry)}
        context = {"status": status, "message": message, **extra}
        return render(request, area, "error.html", context, status=status, headers=headers)

    async def sign_in(request: Request, _exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            return page(request, 401, "Your session has ended. Please sign in again.")
        return RedirectResponse(f"{area.path}/signin?next={quote(target, safe='/')}", 303)

    async def entrusted_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.EntrustedError)
        status = next((v for cls, v in STATUS.items() if isinstance(exc, cls)), 500)
        if status >= 500:
            log.error("page.error", exc_info=exc)
        extra: dict[str, object] = {}
        retry: int | None = None
        if isinstance(exc, errors.Refused):
            decision = exc.decision
            extra = {"rule": getattr(decision, "rule_id", None) or "default-deny",
                     "reason": getattr(decision, "reason", "")}  # fmt: skip
        if isinstance(exc, errors.RateLimited):
            retry = exc.retry_after_s
            extra = {"retry_after": retry}
        if isinstance(exc, errors.Unavailable):
            retry = UNAVAILABLE_RETRY_AFTER_S  # the page itself says "try again in a moment"
        if isinstance(exc, errors.InvalidInput):
            extra = {"field": exc.field}
        return page(request, status, exc.message if status < 500 else "", retry, **extra)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # the framework's own details ("Not Found") are English words the page already says
        # in the visitor's language; only a route's own detail is worth showing
        generic = exc.status_code in (404, 405) or exc.status_code >= 500
        retry = (exc.headers or {}).get("Retry-After")  # kept, as the API's handler keeps it
        return page(request, exc.status_code, "" if generic else str(exc.detail), retry)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "form"
        return page(request, 422, f"{field}: {first.get('msg', 'invalid')}", field=field)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("page.unexpected", exc_info=exc)
        return page(request, 500, "")

    app.add_exception_handler(SignInNeeded, sign_in)
    app.add_exception_handler(errors.EntrustedError, entrusted_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)
