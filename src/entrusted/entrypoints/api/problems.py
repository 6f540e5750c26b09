"""The one table mapping exceptions to HTTP statuses, and RFC 9457 problem bodies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from entrusted import errors

STATUS: dict[type[errors.EntrustedError], tuple[int, str]] = {
    errors.InvalidInput: (422, "invalid-input"),
    errors.NotFound: (404, "not-found"),
    errors.Conflict: (409, "conflict"),
    errors.AuthenticationFailed: (401, "authentication-failed"),
    errors.RateLimited: (429, "rate-limited"),
    errors.Refused: (403, "refused"),
    errors.Unavailable: (503, "unavailable"),
    errors.TamperDetected: (500, "tamper-detected"),
}
PROBLEM_BASE = "https://entrusted.example/problems/"


def problem(status: int, slug: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": slug.replace("-", " "), "status": status}
    body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.EntrustedError)
    async def _entrusted(_: Request, exc: errors.EntrustedError) -> JSONResponse:
        status, slug = next(
            (v for cls, v in STATUS.items() if isinstance(exc, cls)), (500, "internal-error")
        )
        extra: dict[str, Any] = {}
        if isinstance(exc, errors.InvalidInput):
            extra["field"] = exc.field
        if isinstance(exc, errors.Refused):
            extra["rule"] = getattr(exc.decision, "rule_id", None)
            extra["reason"] = getattr(exc.decision, "reason", None)
        response = problem(status, slug, exc.message, **extra)
        if isinstance(exc, errors.RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return problem(422, "invalid-input", f"{field}: {first.get('msg', 'invalid')}", field=field)
