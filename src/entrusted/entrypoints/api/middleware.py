"""Pure ASGI middleware in front of every route: a request body limit enforced while the body
arrives, the security headers, and the access-log filter that keeps addresses out of logs.

Why ASGI and not a FastAPI dependency: a dependency runs after the framework has read the whole
body into memory, which is exactly what an oversized unauthenticated body must not achieve.

```python
app.add_middleware(BodyLimit, max_bytes=1024 * 1024)
app.add_middleware(SecurityHeaders, docs_paths=frozenset())
```
"""

from __future__ import annotations

import copy
import json
import logging
import re
from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrusted.entrypoints.api.problems import problem

TOO_LARGE = 413


class BodyLimit:
    """Refuse a body longer than `max_bytes` with 413: at once when Content-Length says so (the
    body is never read), otherwise as soon as the chunks received pass the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            # SecurityHeaders wraps this middleware (app.py), so the early answer gets them too.
            answer = problem(TOO_LARGE, "too-large", self._detail())
            answer.headers["connection"] = "close"
            await answer(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises an HTTPException from body reading as it is, so the
                    # problem handler answers it; nothing further is read.
                    raise HTTPException(TOO_LARGE, self._detail())
            return message

        await self.app(scope, limited, send)

    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"


_NUL_ESCAPE = re.compile(rb"\\u0000")
# Bodies up to this size are checked on the event loop (microseconds for a request's usual
# few fields); a larger one in a worker thread, so a megabyte built to be slow to parse (a
# Python call per JSON object) does not hold up every other request meanwhile.
INLINE_CHECK_BYTES = 64 * 1024


class _Repeated(Exception):  # noqa: N818 - a signal inside `body_problem`, never raised out of it
    pass


def _no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Repeated
    return out


def body_problem(body: bytes) -> str | None:
    """What no route may be handed: a JSON object that names a key twice (parsers disagree on
    which one counts, the framework's takes the last, a proxy or a log may show the first, and
    a check can be slipped past between them), or nesting too deep for a parser to follow (it
    would fail inside the route). Anything else that is not JSON is the route's to refuse."""
    if b"{" not in body and b"[" not in body:
        return None
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except _Repeated:
        return "a JSON object names the same key twice"
    except RecursionError:
        return "the JSON is nested too deeply"
    except ValueError:  # not JSON (or not UTF-8): the route's parser answers
        return None
    return None


class NoNul:
    """Refuse a NUL character in the query or the body (raw, or as the JSON escape) with 422
    before any route runs: no field has a use for it, PostgreSQL cannot store it in text, and
    a name cut at a NUL by one layer and not by another is how checks are slipped past. The
    path is left to the routes: every path segment is an id or name that its route checks,
    and a malformed id there is refused and ledgered under a placeholder (docs/api.md).
    The whole body in hand, it also refuses what `body_problem` names, for the same reason.
    Sits inside `BodyLimit`, so the body it reads whole is bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"\x00" in query or b"%00" in query:
            await self._refuse("query", scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            try:
                message = await receive()
            except HTTPException as exc:  # BodyLimit: raised here, outside the app's handlers
                await problem(exc.status_code, "too-large", str(exc.detail))(scope, receive, send)
                return
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if b"\x00" in body or _NUL_ESCAPE.search(body):
            await self._refuse("body", scope, receive, send)
            return
        wrong = None
        if len(body) > INLINE_CHECK_BYTES:  # ~0.2 s for 1 MiB of tiny objects: off the loop
            wrong = await anyio.to_thread.run_sync(body_problem, bytes(body))
        elif body:
            wrong = body_problem(bytes(body))
        if wrong is not None:
            await self._refuse("body", scope, receive, send, wrong)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(
        where: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        why: str = "NUL characters are not accepted",
    ) -> None:
        answer = problem(422, "invalid-input", f"{where}: {why}")
        answer.headers["connection"] = "close"
        await answer(scope, receive, send)


# Every answer may carry a token or personal details, so none is cached or sniffed, and none
# may be framed or run a script: the API serves JSON only.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Add `SECURITY_HEADERS` to every response (a route's own `Cache-Control` wins: only the
    public ledger routes set one; so does a route's own CSP: only the evidence report's). The
    interactive docs pages (only served when the operator turns them on) load their scripts
    from a CDN, so they get no CSP."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path") in self.docs_paths

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if docs and name == b"content-security-policy":
                        continue
                    # A route that chose its own caching (the public ledger tiles, immutable
                    # per C2SP tlog-tiles) keeps it; everything else is never stored.
                    if name == b"cache-control" and "cache-control" in headers:
                        continue
                    # The evidence report's HTML names its one inline stylesheet by hash in
                    # its own, equally strict policy; no other route sets one.
                    if name == b"content-security-policy" and name.decode() in headers:
                        continue
                    headers[name.decode()] = value.decode()
            await send(message)

        await self.app(scope, receive, with_headers)


# A path segment that holds an address, raw or percent-encoded (`%40`).
_ADDRESS_SEGMENT = re.compile(r"[^/?&=]*(?:@|%40)[^/?&=]*", re.IGNORECASE)
REDACTED = "[address]"
# The sizes route names an FTP space by its account name, which is the customer's login and
# often their own name; the other `/v1/ftp-spaces/{id}/...` routes take a service id.
_FTP_SPACE_NAME = re.compile(r"(/v1/ftp-spaces/)[^/?]+(/sizes(?:[/?]|$))")
REDACTED_NAME = "[name]"


def redact_path(path: str) -> str:
    """`/v1/mailboxes/info@example.org/metadata` -> `/v1/mailboxes/[address]/metadata`;
    `/v1/ftp-spaces/alice-space/sizes` -> `/v1/ftp-spaces/[name]/sizes`."""
    path = _FTP_SPACE_NAME.sub(rf"\g<1>{REDACTED_NAME}\g<2>", path)
    return _ADDRESS_SEGMENT.sub(REDACTED, path)


class RedactAddresses(logging.Filter):
    """For uvicorn's access log: its record's third argument is the path with the query; a
    mailbox address there would put personal data into every log line (issue 11, item 12)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def access_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with `RedactAddresses` on its access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_addresses"] = {"()": RedactAddresses}
    config["handlers"]["access"]["filters"] = ["redact_addresses"]
    return config
