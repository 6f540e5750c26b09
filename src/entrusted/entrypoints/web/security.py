"""What every page answer carries: a strict Content-Security-Policy (scripts and styles only
from our own `/static`, no inline code, forms post only to us, no framing), and the cookie
flags of the two sessions.

Why its own policy: the API's `default-src 'none'` forbids the stylesheet and the one script
the pages need; the API's middleware leaves a route's own policy in place.
"""

from __future__ import annotations

from starlette.requests import Request

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the links in mails carry tokens (in the fragment)
    "Cache-Control": "no-store",  # pages show personal details
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def secure_cookies(request: Request, portal_url: str) -> bool:
    """Cookies get `Secure` when the page is served over TLS (directly, or as a trusted proxy
    says) or the configured public address is https."""
    return request.url.scheme == "https" or portal_url.startswith("https://")
