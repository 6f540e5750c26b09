"""The signed-in customer's language and time zone for every portal page, and their own
record for the details page.

Why a helper: each portal page is written in the customer's own language (unless the visitor
chose another with `?lang=`) and shows dates in the customer's own zone. Both are read alone
(`RegistryService.preferences`: plain columns, no personal data, no gate decision), so a page
view adds no "you read your details" to the customer's history; the record itself is read
through the gate (ledgered) only by the details page, once per request.

```python
return page(request, actor, "portal/backups.html", {"backups": found})
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from entrusted.domain.policy import Actor
from entrusted.domain.registry import CustomerRecord
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import PORTAL, container_of, signed_in
from entrusted.services.customer_preferences import Preferences


def record(request: Request, actor: Actor) -> CustomerRecord:
    """The signed-in customer's record (cached on the request)."""
    cached: CustomerRecord | None = getattr(request.state, "my_record", None)
    if cached is None or cached.id != actor.id:
        cached = container_of(request).registry.details(actor, actor.id)
        request.state.my_record = cached
    return cached


def preferences(request: Request, actor: Actor) -> Preferences:
    """The signed-in customer's language and time zone: from their record if this request
    read it (the details page, just corrected), else read alone, with no gate decision."""
    cached: CustomerRecord | None = getattr(request.state, "my_record", None)
    if cached is not None and cached.id == actor.id:
        return Preferences(cached.language, cached.time_zone)
    return container_of(request).registry.preferences(actor.id)


def time_zone(request: Request, found: Preferences) -> str:
    """The customer's own zone, else the configured default."""
    default: str = container_of(request).settings.default_time_zone
    return found.time_zone or default


def page(
    request: Request,
    actor: Actor,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    """`render` in the customer's language and time zone."""
    mine = preferences(request, actor)
    values = {"time_zone": time_zone(request, mine), **(context or {})}
    return render(
        request, PORTAL, template, values, status=status, preferred_language=mine.language
    )


def visitor_page(
    request: Request, template: str, context: Mapping[str, Any] | None = None
) -> HTMLResponse:
    """A page anyone may open (a mailed link's): in the customer's language and zone when
    the visitor is signed in, else as `render` chooses."""
    actor = signed_in(request, PORTAL)
    if actor is None:
        return render(request, PORTAL, template, context)
    return page(request, actor, template, context)
