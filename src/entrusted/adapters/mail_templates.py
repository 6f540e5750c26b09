"""Customer mails written from Jinja2 templates (issue 18): `templates/mail/<name>.txt` and
`<name>.html`, in English, French, German or Italian through the gettext catalogues of
`adapters/i18n.py`, with times in the customer's time zone.

Why one renderer behind a port (`services.outbox.MailTemplates`): services hand over values
(datetimes, names, links) and stay free of Jinja2 and Babel; the wording, its translations and
the date formats live in templates and `.po` files, which the catalogue test
(`tests/unit/test_catalogues.py`) checks for completeness.

Conventions of a template pair:

- the `.txt` template's first line is the subject; a blank line follows, then the plain text;
- the `.html` template extends `_layout.html` and receives `subject`; it is autoescaped, the
  text one is not (a name is shown as typed, and only the HTML part needs escaping);
- every template receives `provider` (setting `provider_name`) and the filters `datetime`
  (a point in time, in the reader's zone and language) and `date`.

A text message is one template of `templates/sms/`, `<name>.txt` alone, with no subject
line and no HTML part (`text`); it shares the mails' catalogue.

```python
mails = JinjaMailTemplates("Example Hosting", default_language="en",
                           default_time_zone="Europe/Zurich")
written = mails.write("consent.granted", {"staff": "Sam Muster", ...}, "fr", "Europe/Paris")
written.subject, written.text, written.html
```
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_datetime

from entrusted.adapters.i18n import SUPPORTED, translations
from entrusted.domain.registry import clean_language, clean_time_zone
from entrusted.errors import InvalidInput
from entrusted.services.outbox import Written

MAIL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
SMS_TEMPLATES = MAIL_TEMPLATES.parent / "sms"
# A point in time after its long date: "27 novembre 2026, 19:00 (New York)"; the zone's city
# tells the reader which clock, in their language ("Zürich", "Zurigo").
_CLOCK = "HH:mm (VVV)"


class _Render(Protocol):
    def __call__(self, template: str, **extra: object) -> str: ...


class JinjaMailTemplates:
    """The `MailTemplates` port over Jinja2 and Babel (one environment per language)."""

    def __init__(
        self,
        provider_name: str,
        default_language: str = "en",
        default_time_zone: str = "Europe/Zurich",
        directory: Path = MAIL_TEMPLATES,
        sms_directory: Path = SMS_TEMPLATES,
    ) -> None:
        self.provider_name = provider_name
        self.default_language = clean_language(default_language, "default_language")
        self.default_time_zone = clean_time_zone(default_time_zone, "default_time_zone")
        self.directory = directory
        self.sms_directory = sms_directory

    def write(
        self,
        name: str,
        values: Mapping[str, object],
        language: str | None = None,
        time_zone: str | None = None,
    ) -> Written:
        """The subject, text and HTML of template pair `name`. A language or zone the record
        holds but this system no longer knows falls back to the default rather than leaving
        the customer without their notice."""
        render = self._renderer(self.directory, "mail template", values, language, time_zone)
        subject, _, body = render(f"{name}.txt").partition("\n\n")
        html = render(f"{name}.html", subject=subject.strip())
        return Written(subject.strip(), body.lstrip("\n"), html)

    def text(
        self,
        name: str,
        values: Mapping[str, object],
        language: str | None = None,
        time_zone: str | None = None,
    ) -> str:
        """Text message `name` (`sms_directory`), stripped: no subject and no HTML."""
        render = self._renderer(
            self.sms_directory, "text message template", values, language, time_zone
        )
        return render(f"{name}.txt").strip()

    def _renderer(
        self,
        directory: Path,
        kind: str,
        values: Mapping[str, object],
        language: str | None,
        time_zone: str | None,
    ) -> _Render:
        """Renders a template of `directory` for this reader: their language's environment,
        `values` with the provider, language and zone, and the filters' globals. A missing
        template is bad input naming its `kind`, never a crash mid-delivery."""
        lang = language if language in SUPPORTED else self.default_language
        zone = ZoneInfo(self._zone(time_zone))
        env = environment(directory, lang)
        context = {
            **values,
            "provider": self.provider_name,
            "language": lang,
            "time_zone": zone.key,
        }

        def render(template: str, **extra: object) -> str:
            try:
                return env.get_template(template).render(context, **extra, zone=zone, lang=lang)
            except jinja2.TemplateNotFound as exc:
                raise InvalidInput("template", f"no {kind} {exc.name}") from None

        return render

    def _zone(self, time_zone: str | None) -> str:
        return known_zone(time_zone, self.default_time_zone)


def known_zone(time_zone: str | None, default: str) -> str:
    """`time_zone` if this system's zone database knows it, else `default`: a zone stored on
    a record that a later tzdata no longer knows must not cost the reader their mail or page."""
    if time_zone is None:
        return default
    try:
        return clean_time_zone(time_zone)
    except InvalidInput:
        return default


@cache
def environment(directory: Path, language: str) -> jinja2.Environment:
    """The Jinja2 environment of one language (cached: templates compile once per process)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,  # a value a template needs and lacks is an error
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["datetime"] = _when_filter
    env.filters["date"] = _date_filter
    return env


@jinja2.pass_context
def _when_filter(context: jinja2.runtime.Context, value: datetime) -> str:
    """`value` (aware; naive is read as UTC) in the reader's zone and language."""
    return when(value, context["zone"], context["lang"])


def when(value: datetime, zone: ZoneInfo, language: str) -> str:
    """A point in time as mails show it: the long date and the time in `zone`, and the zone's
    city (`27. November 2026, 19:00 (New York)`). A naive value is read as UTC."""
    at = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(zone)
    day = format_date(at.date(), "long", locale=language)
    return f"{day}, {format_datetime(at, _CLOCK, tzinfo=zone, locale=language)}"


@jinja2.pass_context
def _date_filter(context: jinja2.runtime.Context, value: date) -> str:
    """A day in the reader's language; a point in time is first moved into their zone."""
    if isinstance(value, datetime):
        at = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        value = at.astimezone(context["zone"]).date()
    return format_date(value, "long", locale=context["lang"])
