"""Every message a customer can read has a translation in French, German and Italian (issue 18).

The messages are extracted the way a translator's tool would: Babel's Jinja2 extractor over
every template under `src/entrusted/templates` (the mails) and
`src/entrusted/entrypoints/web/templates` (the pages), plus `_()` / `gettext` calls in the
Python of `src/entrusted/entrypoints/web`. Each must have a non-empty, non-fuzzy translation,
with the same `%(name)s` placeholders, in the merged catalogue of every language (all
`locale/<lang>/*.po`, so a new area's `portal_*.po` is covered without touching this test);
two `.po` files of one language must not translate one id differently (the loader keeps the
first, so the other would silently never show).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from entrusted.adapters.i18n import LOCALE_DIR, SOURCE_LANGUAGE, SUPPORTED

SRC = Path(__file__).resolve().parents[2] / "src" / "entrusted"
TEMPLATE_DIRS = (SRC / "templates", SRC / "entrypoints" / "web" / "templates")
PYTHON_DIRS = (SRC / "entrypoints" / "web",)
LANGUAGES = tuple(lang for lang in SUPPORTED if lang != SOURCE_LANGUAGE)
_JINJA = {"extensions": "jinja2.ext.i18n", "encoding": "utf-8"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted(
    template_dirs: Iterable[Path] = TEMPLATE_DIRS, python_dirs: Iterable[Path] = PYTHON_DIRS
) -> dict[str, str]:
    """Every message id found, with where it was first seen (`file:line`)."""
    found: dict[str, str] = {}

    def add(root: Path, items: Iterable[tuple[str, int, Any, Any, Any]]) -> None:
        for filename, line, message, _comments, _context in items:
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    found.setdefault(msgid, f"{root / filename}:{line}")

    for root in template_dirs:
        if root.is_dir():
            jinja = "jinja2.ext.babel_extract"
            method_map = [("**.html", jinja), ("**.txt", jinja)]
            add(root, extract_from_dir(root, method_map, {"**": _JINJA}))
    for root in python_dirs:
        if root.is_dir():
            add(root, extract_from_dir(root, [("**.py", "python")]))
    return found


def _catalogue(path: Path, language: str) -> list[Message]:
    with path.open("rb") as f:
        return [m for m in read_po(f, locale=language) if m.id]


def _strings(message: Message | None) -> tuple[str, ...]:
    if message is None:
        return ()
    found = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return tuple(str(s or "") for s in found)


def _names(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _singular(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def missing_translations(
    template_dirs: Iterable[Path] = TEMPLATE_DIRS,
    python_dirs: Iterable[Path] = PYTHON_DIRS,
    locale_dir: Path = LOCALE_DIR,
    languages: Sequence[str] = LANGUAGES,
) -> list[str]:
    """One line per message a language lacks (absent, empty, fuzzy, or with placeholders
    that differ from the English id's), naming the language and the message."""
    messages = extracted(template_dirs, python_dirs)
    problems: list[str] = []
    for language in languages:
        known: dict[str, Message] = {}
        for path in sorted((locale_dir / language).glob("*.po")):
            for m in _catalogue(path, language):
                known.setdefault(_singular(m), m)
        # Plural forms extract both ids; the singular one names the entry.
        plurals = {m.id[1] for m in known.values() if isinstance(m.id, tuple)}
        for msgid, where in sorted(messages.items()):
            if msgid in plurals:
                continue
            found = known.get(msgid)
            strings = _strings(found)
            if found is None:
                why = "has no translation"
            elif found.fuzzy:
                why = "is fuzzy"
            elif not strings or not all(s and s.strip() for s in strings):
                why = "has an empty translation"
            elif any(_names(s) != _names(msgid) for s in strings):
                why = "has placeholders that differ from the English"
            else:
                continue
            problems.append(f"{language}: {msgid!r} ({where}) {why}")
    return problems


def conflicting_translations(
    locale_dir: Path = LOCALE_DIR, languages: Sequence[str] = LANGUAGES
) -> list[str]:
    """One line per id two `.po` files of one language translate differently."""
    problems: list[str] = []
    for language in languages:
        seen: dict[str, tuple[object, str]] = {}
        for path in sorted((locale_dir / language).glob("*.po")):
            for m in _catalogue(path, language):
                key = _singular(m)
                if key in seen and seen[key][0] != m.string:
                    first = seen[key][1]
                    problems.append(
                        f"{language}: {key!r} is translated differently in {first} and {path.name}"
                    )
                seen.setdefault(key, (m.string, path.name))
    return problems


def test_every_message_of_every_template_is_translated() -> None:
    assert extracted(), "no messages found: the extraction itself is broken"
    assert missing_translations() == []


def test_no_two_catalogues_of_a_language_disagree() -> None:
    assert conflicting_translations() == []


def test_the_mails_catalogue_covers_every_mail_template() -> None:
    """The mails have their own catalogue; every mail message is in it, in every language."""
    mail = extracted([SRC / "templates"], [])
    for language in LANGUAGES:
        ids = {_singular(m) for m in _catalogue(LOCALE_DIR / language / "mails.po", language)}
        assert set(mail) <= ids, (language, sorted(set(mail) - ids))


def test_a_planted_untranslated_message_is_named_with_each_language(tmp_path: Path) -> None:
    planted = tmp_path / "templates"
    planted.mkdir()
    (planted / "planted.html").write_text(
        '<p>{{ _("A planted message nobody translated") }}</p>\n'
        '<p>{{ _("Set your password") }}</p>\n',  # translated in mails.po: not reported
        encoding="utf-8",
    )
    problems = missing_translations([planted], [])
    assert problems == [
        f"{lang}: 'A planted message nobody translated' ({planted / 'planted.html'}:1) "
        "has no translation"
        for lang in LANGUAGES
    ]


def test_a_planted_fuzzy_empty_or_mismatched_translation_is_named(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.txt").write_text(
        '{{ _("Fuzzy one") }}\n{{ _("Empty one") }}\n{{ _("Hello %(name)s", name=n) }}\n',
        encoding="utf-8",
    )
    locale = tmp_path / "locale" / "fr"
    locale.mkdir(parents=True)
    (locale / "x.po").write_text(
        '#, fuzzy\nmsgid "Fuzzy one"\nmsgstr "Un flou"\n\n'
        'msgid "Empty one"\nmsgstr ""\n\n'
        '#, python-format\nmsgid "Hello %(name)s"\nmsgstr "Bonjour %(nom)s"\n',
        encoding="utf-8",
    )
    problems = missing_translations([templates], [], tmp_path / "locale", ["fr"])
    assert [p.split(" (")[0] for p in problems] == [
        "fr: 'Empty one'",
        "fr: 'Fuzzy one'",
        "fr: 'Hello %(name)s'",
    ]
    assert [p.rsplit(") ", 1)[1] for p in problems] == [
        "has an empty translation",
        "is fuzzy",
        "has placeholders that differ from the English",
    ]


def test_two_catalogues_that_disagree_are_named(tmp_path: Path) -> None:
    fr = tmp_path / "fr"
    fr.mkdir()
    (fr / "a.po").write_text('msgid "Sign in"\nmsgstr "Se connecter"\n', encoding="utf-8")
    (fr / "b.po").write_text('msgid "Sign in"\nmsgstr "Connexion"\n', encoding="utf-8")
    (fr / "c.po").write_text('msgid "Sign in"\nmsgstr "Se connecter"\n', encoding="utf-8")
    assert conflicting_translations(tmp_path, ["fr"]) == [
        "fr: 'Sign in' is translated differently in a.po and b.po"
    ]


def test_python_gettext_calls_are_extracted(tmp_path: Path) -> None:
    (tmp_path / "view.py").write_text('x = _("A planted page title")\n', encoding="utf-8")
    problems = missing_translations([], [tmp_path], languages=["de"])
    assert problems == [f"de: 'A planted page title' ({tmp_path / 'view.py'}:1) has no translation"]
