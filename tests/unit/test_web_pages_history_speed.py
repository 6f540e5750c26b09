"""The page environment's fast paths (issue 18: the access history formats a hundred times and
translates about five hundred times per page) give exactly what babel and Jinja's own gettext
give: same text, same escaping, in every language and zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import jinja2
import pytest
from babel.dates import format_datetime

from entrusted.adapters.i18n import SUPPORTED, translations
from entrusted.entrypoints.web.pages import environment

ZONES = ("Europe/Zurich", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC")


def _instants() -> list[datetime]:
    start = datetime(2019, 1, 1, tzinfo=UTC)
    spread = [start + timedelta(hours=7 * k, minutes=k % 60, seconds=k % 59) for k in range(800)]
    # both clock changes of 2026 in Europe and the US, minute by minute around the hour
    edges = [
        datetime(2026, m, d, h, mi, tzinfo=UTC)
        for m, d in ((3, 8), (3, 29), (10, 25), (11, 1))
        for h in range(24)
        for mi in (0, 29, 59)
    ]
    other = datetime(2026, 7, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    return [*spread, *edges, other]


@pytest.mark.parametrize("language", SUPPORTED)
def test_when_formats_as_babel_does(language: str) -> None:
    when = environment(language).filters["when"]
    for zone in ZONES:
        for value in _instants():
            expected = format_datetime(value, "medium", tzinfo=ZoneInfo(zone), locale=language)
            assert when(value, zone) == expected, (language, zone, value)
    naive = datetime(2026, 3, 29, 1, 30)  # noqa: DTZ001 - handed to babel, read as UTC
    assert when(naive, "Europe/Zurich") == format_datetime(
        naive, "medium", tzinfo=ZoneInfo("Europe/Zurich"), locale=language
    )
    day = date(2026, 12, 1)
    zurich = ZoneInfo("Europe/Zurich")
    assert when(day) == format_datetime(day, "medium", tzinfo=zurich, locale=language)
    assert when(None) == ""
    # a zone this system does not know: UTC, as before
    unknown = format_datetime(naive, "medium", tzinfo=UTC, locale=language)
    assert when(naive, "Mars/Olympus") == unknown


SOURCE = (
    '{{ _("Receipt") }}|{{ _("entry %(n)s", n=value) }}|{{ _("Check entry %(n)s", n=7) }}|'
    '{{ _("No such message %(x)s", x=value) }}|{{ _("You") }}|{{ _("Closing summary") }}'
    '{% autoescape false %}|{{ _("entry %(n)s", n=value) }}{% endautoescape %}'
)


@pytest.mark.parametrize("language", SUPPORTED)
def test_gettext_renders_as_jinjas_own(language: str) -> None:
    reference = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    reference.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension at run time
    fast = environment(language)
    for value in ("<b>&'\"", 12345, None):
        expected = reference.from_string(SOURCE).render(value=value)
        assert fast.from_string(SOURCE).render(value=value) == expected
        assert fast.from_string(SOURCE).render(value=value) == expected  # the cached message
    assert "&lt;b&gt;&amp;" in fast.from_string(SOURCE).render(value="<b>&")
    assert fast.from_string(SOURCE).render(value="<b>&").endswith(" <b>&")  # not escaped
