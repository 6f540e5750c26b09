"""The public policy document (P17) as values: its versions, its sections, the version in force
on a day, and the checks a new version passes before it is stored.

A version is immutable once published: its text, the date it takes effect, who published it,
a one-line summary of the change and the SHA-256 of the text (what the ledger names, since
the ledger holds no text). Versions are numbered 1, 2, ... and their effective dates never go
backwards, so "the version in force on day D" is simply the highest-numbered version whose
effective date is on or before D. Dates are UTC days.

A new version may not take effect in the past: a consent given yesterday recorded the
version then in force, and a retroactive version would make that record wrong. It may take
effect today or later (an amendment announced ahead of time); until then the previous
version stays in force and both are public.

    >>> [s.promises for s in sections("intro\\n\\n## Backups [P15, P16]\\nweekly")]
    [('P15', 'P16')]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from entrusted.errors import InvalidInput

PROMISE_IDS = tuple(f"P{n}" for n in range(1, 18))
MAX_TEXT_CHARS = 100_000
MAX_SUMMARY_CHARS = 500
# How far ahead a version may be announced: each version's date bounds every later one's, so
# a date years away (9999-12-31) would freeze every publication after it.
MAX_AHEAD_DAYS = 366
HEADING = "## "
_TAGS = re.compile(r"\s*\[(P\d+(?:\s*,\s*P\d+)*)\]\s*$")
# Any bracket in a heading that looks like promise ids, in any case and at any place: each
# must be a known, upper-case id at the end of a `## ` heading, or the draft is refused.
_ID_LIKE = re.compile(r"\[\s*([Pp]\s*\d+(?:\s*,\s*[Pp]?\s*\d*\w*)*)\s*\]")


@dataclass(frozen=True, slots=True)
class Section:
    """One `## Title [P1, P2]` section: its title, the promises it states, its paragraphs."""

    title: str
    promises: tuple[str, ...]
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    number: int
    text: str
    sha256: str
    effective: date
    author: str
    summary: str
    published_at: datetime

    @property
    def version_id(self) -> str:
        """The id the ledger, the event and consent records name (the version's number)."""
        return str(self.number)

    @property
    def title(self) -> str:
        return title_of(self.text.split("\n", 1)[0])


@dataclass(frozen=True, slots=True)
class Draft:
    """A new version's content, checked (`check_draft`), before it gets its number."""

    text: str
    sha256: str
    effective: date
    summary: str


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise(text: str) -> str:
    """One line ending, no trailing spaces, one final newline: the same words hash the same."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def title_of(line: str) -> str:
    """A first line written as a Markdown title (`# Privacy`) is shown without its `#`."""
    line = line.strip()
    return line[2:].strip() if line.startswith("# ") else line


def _paragraphs(lines: Sequence[str]) -> tuple[str, ...]:
    blocks = "\n".join(lines).split("\n\n")
    return tuple(" ".join(b.split()) for b in blocks if b.strip())


def sections(text: str) -> list[Section]:
    """The text's sections in order. What comes before the first heading (the title line and
    an introduction) is a section with no promises, titled by the first line."""
    found: list[Section] = []
    title, body = "", list[str]()
    promises: tuple[str, ...] = ()
    lines = text.split("\n")
    if lines and not lines[0].startswith(HEADING):
        title, lines = title_of(lines[0]), lines[1:]
    for line in lines:
        if line.startswith(HEADING):
            if title or body:
                found.append(Section(title, promises, _paragraphs(body)))
            heading = line[len(HEADING) :].strip()
            tags = _TAGS.search(heading)
            promises = tuple(p.strip() for p in tags.group(1).split(",")) if tags else ()
            title = heading[: tags.start()].strip() if tags else heading
            body = []
        else:
            body.append(line)
    if title or body:
        found.append(Section(title, promises, _paragraphs(body)))
    return found


def promises_stated(text: str) -> frozenset[str]:
    return frozenset(p for s in sections(text) for p in s.promises)


def heading_ids_problem(text: str) -> str | None:
    """Why the promise ids in the headings are wrong, if they are: a bracket that looks like
    promise ids anywhere in a heading (`#`, `###`, ...) must be a list of known, upper-case
    ids closing a `## ` heading; otherwise a reader would see a promise the check ignored."""
    for line in text.split("\n"):
        if not line.startswith("#"):
            continue
        for found in _ID_LIKE.finditer(line):
            ids = [p.strip() for p in found.group(1).split(",")]
            bad = [p for p in ids if p not in PROMISE_IDS]
            if bad:
                return f"no such promise id: {', '.join(bad)} (P1..P17, upper case)"
            closes = found.end() == len(line.rstrip())
            if not line.startswith(HEADING) or not closes:
                return (
                    f"promise ids go at the end of a `## ` heading, not in {line.strip()!r}"
                )
    return None


def check_draft(
    text: str, effective: date, summary: str, today: date, latest: PolicyVersion | None
) -> Draft:
    """The checks every new version passes, or `InvalidInput` naming the field."""
    body = normalise(text)
    if not body.strip():
        raise InvalidInput("text", "the policy document needs a text")
    if len(body) > MAX_TEXT_CHARS:
        raise InvalidInput("text", f"at most {MAX_TEXT_CHARS} characters")
    if any(not (ch.isprintable() or ch in "\n\t") for ch in body):
        raise InvalidInput("text", "control characters are not allowed")
    if (problem := heading_ids_problem(body)) is not None:
        raise InvalidInput("text", problem)
    missing = sorted(set(PROMISE_IDS) - promises_stated(body), key=lambda p: int(p[1:]))
    if missing:
        raise InvalidInput(
            "text",
            f"states no section for {', '.join(missing)}: the system keeps every promise "
            "P1..P17, and the public text must state each one (`## Title [P1, P2]`)",
        )
    why = " ".join(summary.split())
    if not why:
        raise InvalidInput("summary", "say in a line what changed")
    if len(why) > MAX_SUMMARY_CHARS or not why.isprintable():
        raise InvalidInput("summary", f"one line of at most {MAX_SUMMARY_CHARS} characters")
    if effective < today:
        raise InvalidInput(
            "effective", f"a version cannot take effect in the past (today is {today.isoformat()})"
        )
    if effective > today + timedelta(days=MAX_AHEAD_DAYS):
        raise InvalidInput(
            "effective",
            f"at most {MAX_AHEAD_DAYS} days ahead (until "
            f"{(today + timedelta(days=MAX_AHEAD_DAYS)).isoformat()}): every later version must "
            "take effect on or after it",
        )
    if latest is not None and effective < latest.effective:
        raise InvalidInput(
            "effective",
            f"version {latest.number} takes effect on {latest.effective.isoformat()}; "
            "a later version cannot take effect before it",
        )
    if latest is not None and text_sha256(body) == latest.sha256:
        raise InvalidInput("text", f"the text is the same as version {latest.number}")
    return Draft(body, text_sha256(body), effective, why)


def in_force(versions: Sequence[PolicyVersion], today: date) -> PolicyVersion | None:
    """The version in force on `today`: the newest one already effective. Before the first
    version's own date (a clock behind the installation's), the first one: once any version
    exists, one is always in force, so the public page never goes blank."""
    if not versions:
        return None
    effective = [v for v in versions if v.effective <= today]
    return max(effective or [min(versions, key=lambda v: v.number)], key=lambda v: v.number)


def upcoming(versions: Sequence[PolicyVersion], today: date) -> list[PolicyVersion]:
    """Versions published but not yet in force, soonest first."""
    return sorted((v for v in versions if v.effective > today), key=lambda v: v.number)
