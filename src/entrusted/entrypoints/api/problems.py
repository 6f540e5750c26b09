"""The one table mapping exceptions to HTTP statuses, and RFC 9457 problem bodies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
# What a 503 tells the client to wait: the figure the pages send too (`errors.Unavailable`).
UNAVAILABLE_RETRY_AFTER_S = errors.Unavailable.retry_after_s


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
        if isinstance(exc, errors.Unavailable):
            response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_S)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            return problem(400, "bad-request", "the body is not valid JSON")
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return problem(422, "invalid-input", f"{field}: {first.get('msg', 'invalid')}", field=field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own 4xx (no such route, wrong method, a body that is not UTF-8 or
        # too large) get the same problem body as ours, so a client parses one shape.
        slug = HTTP_SLUGS.get(exc.status_code, "http-error")
        response = problem(exc.status_code, slug, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers.setdefault(name, value)
        return response


HTTP_SLUGS = {
    400: "bad-request",
    401: "authentication-failed",
    403: "refused",
    404: "not-found",
    405: "method-not-allowed",
    413: "too-large",
    415: "unsupported-media-type",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "rule": {"type": "string"},
        "reason": {"type": "string"},
    },
}
# The error answers an operation can give, and which operations can give each.
ERROR_RESPONSES = {
    400: "The body is not JSON or not UTF-8.",
    401: "No valid bearer token.",
    403: "Refused by a rule (`rule` names it; the refusal is in the ledger).",
    404: "No such id, or nothing there yet.",
    409: "The state changed meanwhile (already ended, already answered).",
    413: "The body is larger than `max_body_bytes`.",
    422: "A field is invalid (`field` names it).",
    429: "Too many attempts; retry after the `Retry-After` seconds.",
    503: "The ledger, the database or the mail or SMS transport is unavailable, or the database "
    "stayed busy; nothing was done: retry after the `Retry-After` seconds.",
}
_WRITES = frozenset({"post", "put", "patch", "delete"})


def _statuses(method: str, operation: dict[str, Any]) -> list[int]:
    out = [400, 413, 422] if method in _WRITES else []
    if operation.get("parameters"):
        out.append(422)
    if operation.get("security"):
        out += [401, 403, 503]
    elif method in _WRITES:
        # The open writes take a credential in the body (a password, an e-mailed link, a
        # receipt's token): it can be wrong, refused or throttled.
        out += [401, 403, 429, 503]
    out.append(404)  # a missing id, or nothing there yet (no checkpoint signed so far)
    if method in _WRITES:
        out.append(409)
    return sorted(set(out))


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Each operation's possible error answers as `application/problem+json` with the problem
    schema (in place of FastAPI's `application/json` validation error)."""
    openapi.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in openapi.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            accepted = responses.get("202", {})
            if accepted.get("content", {}).get("application/json", {}).get("schema") == {}:
                del accepted["content"]  # a bare 202 carries no body, not an empty JSON one
            for status in _statuses(method, operation):
                existing = responses.get(str(status), {})
                if "content" in existing and status != 422:
                    continue  # a route's own answer (the mail login gate's `allow: false`)
                why = existing.get("description", ERROR_RESPONSES[status])
                responses[str(status)] = {"description": why, "content": content}
    return openapi
