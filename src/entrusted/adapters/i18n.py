"""Translations for what customers read (pages and mails) in English, French, German and
Italian, from gettext catalogues kept as `.po` source under `entrusted/locale/<lang>/`.

Why `.po` read at run time and no compiled `.mo`: there is no build step; Babel compiles each
language's catalogues once per process, in memory. Every `.po` file of a language is merged
into one catalogue, so each area (portal pages, mails) owns its own files and two people adding
messages never edit the same file. English is the source language: its messages are the ids.

```python
t = translations("fr")
t.gettext("Sign in")            # -> "Se connecter"
negotiate("de-CH,de;q=0.9", default="en")  # -> "de"
```
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SUPPORTED: tuple[str, ...] = ("en", "fr", "de", "it")
SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def catalogue_files(language: str) -> list[Path]:
    """The `.po` files of one language, in a stable order."""
    return sorted((LOCALE_DIR / language).glob("*.po"))


def merged_catalogue(language: str) -> Catalog:
    """Every message of every `.po` file of `language` (a later file never overrides an
    earlier translation: the completeness test keeps duplicates equal)."""
    merged = Catalog(locale=language, domain="entrusted")
    for path in catalogue_files(language):
        with path.open("rb") as f:
            for message in read_po(f, locale=language):
                if message.id and message.id not in merged:
                    merged[message.id] = message
    return merged


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalogue of `language` (English, or an unknown language: the ids themselves).

    Cached per process: the catalogues are package data and do not change while it runs."""
    if language not in SUPPORTED:
        raise ValueError(f"unsupported language {language!r}; one of {', '.join(SUPPORTED)}")
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged_catalogue(language), use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate(accept_language: str | None, default: str) -> str:
    """The first supported language of an `Accept-Language` header (by q-value), else
    `default`. Only the primary subtag counts: `fr-CH` is French."""
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary in SUPPORTED and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else default
