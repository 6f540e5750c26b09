"""Rendering a page: one Jinja2 environment per language (autoescaped, gettext installed),
the context every template gets, and the headers every page answer carries.

Why one environment per language: installing translations into a shared environment per
request would race between the threads FastAPI runs page handlers in; four small
environments cost nothing.

```python
return render(request, PORTAL, "portal/home.html", {"grants": grants})
```
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from babel import Locale
from babel.dates import (
    format_datetime,
    get_date_format,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)
from jinja2.nodes import EvalContext
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from entrusted.adapters.i18n import SUPPORTED, negotiate, translations
from entrusted.adapters.mail_templates import known_zone
from entrusted.entrypoints.web.security import PAGE_HEADERS, secure_cookies
from entrusted.entrypoints.web.sessions import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    PORTAL,
    Area,
    container_of,
    csrf_token,
    set_visitor,
    signed_in,
)
from entrusted.services.customer_preferences import Preferences

LANGUAGE_NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "it": "Italiano"}


@cache
def environment(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("entrusted.entrypoints.web", "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are package data: never re-read while we run. With reloading on, every
        # render stat()ed each template it uses (four for the history page), and each stat
        # lets go of the GIL, which under load costs a wait of a thread switch (issue 18).
        auto_reload=False,
    )
    catalogue = translations(language)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension at run time
    env.globals["_"] = _gettext(catalogue)
    env.filters["when"] = _when(language)
    return env


def _when(language: str) -> Callable[..., str]:
    """The `when` filter: babel's `format_datetime(value, "medium", zone, language)`, with the
    locale and its three patterns looked up once per language instead of on every call (a
    history page formats 100 times). Only what babel's own steps yield for an aware datetime
    is done here; anything else is handed to babel itself."""
    locale = Locale.parse(language)
    joined = str(get_datetime_format("medium", locale=locale)).replace("'", "")
    time_pattern = parse_pattern(get_time_format("medium", locale=locale))
    date_pattern = parse_pattern(get_date_format("medium", locale=locale))

    def when(value: Any, zone: str = "Europe/Zurich") -> str:
        if not value:
            return ""
        tz = _zone(zone)
        if not isinstance(value, datetime) or value.tzinfo is None:
            return format_datetime(value, "medium", tzinfo=tz, locale=locale)
        local = value.astimezone(tz)
        day = local.date()
        at = time_pattern.apply(local.timetz(), locale, reference_date=day)
        return joined.replace("{0}", at).replace("{1}", date_pattern.apply(day, locale))

    return when


def _gettext(catalogue: gettext.NullTranslations) -> Callable[..., str]:
    """`_()` as Jinja's newstyle gettext computes it (the translation as markup, always
    %-formatted with the keyword arguments, escaped), in one call instead of three and with
    each message looked up once per process: a history page calls it ~500 times (issue 18)."""
    found: dict[str, Markup] = {}
    lookup = catalogue.gettext

    @jinja2.pass_eval_context
    def translate(eval_ctx: EvalContext, string: str, /, **variables: Any) -> str:
        if not eval_ctx.autoescape:
            return lookup(string) % variables
        message = found.get(string)
        if message is None:
            message = found[string] = Markup(lookup(string))  # noqa: S704 - our own catalogue; `%` escapes the values
        return message % variables

    return translate


@cache
def _zone(name: str) -> Any:
    """`render` hands every page a zone this system knows; a template that names another one
    gets UTC rather than a 500. Cached: the zone database does not change while we run."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(known_zone(name, "UTC"))


def sections(area: Area) -> list[str]:
    """The start page's entries of `area`: every `templates/<area>/sections/*.html`, in name
    order, so each page module adds its own link without editing the start page."""
    prefix = f"{area.name}/sections/"
    return sorted(
        n
        for n in environment("en").list_templates()
        if n.startswith(prefix) and n.endswith(".html")
    )


def default_language(request: Request) -> str:
    found = container_of(request).settings.default_language
    return found if found in SUPPORTED else "en"


def language(request: Request, preferred: str | None = None) -> str:
    """The page's language: `?lang=` (remembered in a cookie), else the cookie, else the
    signed-in customer's own language (`preferred`), else the browser's, else the default."""
    asked = request.query_params.get("lang")
    if asked in SUPPORTED:
        return asked
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in SUPPORTED:
        return remembered
    if preferred in SUPPORTED:
        return preferred
    return negotiate(request.headers.get("accept-language"), default_language(request))


def _language_links(request: Request) -> dict[str, str]:
    """The language switch's links: this page with its query kept (a history page's cursor),
    only `lang` changed."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return {code: "?" + urlencode([*kept, ("lang", code)]) for code in LANGUAGE_NAMES}


def render(
    request: Request,
    area: Area,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    preferred_language: str | None = None,
    headers: Mapping[str, str] | None = None,
    preferences: Preferences | None = None,
) -> HTMLResponse:
    """The page `template` in the visitor's language, with the form token and who is signed
    in; sets the language and visitor cookies when they are new. A signed-in customer's
    page (the start page and error pages too) is in their own language and zone unless the
    caller says otherwise (trial finding: the start page was English for a French customer).
    A handler that has already read the customer's `preferences` passes them: one read less."""
    settings = container_of(request).settings
    zone = settings.default_time_zone
    actor = signed_in(request, area)
    if area is PORTAL and actor is not None:
        mine = preferences
        if mine is None:
            mine = container_of(request).registry.preferences(actor.id)
        preferred_language = preferred_language or mine.language
        zone = mine.time_zone or zone
    lang = language(request, preferred_language)
    values: dict[str, Any] = {
        "lang": lang,
        "languages": LANGUAGE_NAMES,
        "area": area,
        "actor": actor,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request, area),
        "provider_name": settings.provider_name,
        "path": request.url.path,
        "time_zone": zone,
        "language_links": _language_links(request),
    }
    values.update(context or {})
    # A zone stored on a record that a later tzdata no longer knows: the configured default.
    values["time_zone"] = known_zone(values["time_zone"], settings.default_time_zone)
    body = environment(lang).get_template(template).render(values)
    response = HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
    set_visitor(request, response, area)
    if request.query_params.get("lang") in SUPPORTED:
        response.set_cookie(
            LANGUAGE_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True,
            samesite="strict", secure=secure_cookies(request, settings.portal_url),
        )  # fmt: skip
    return response
