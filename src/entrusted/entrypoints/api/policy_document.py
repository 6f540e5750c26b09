"""The public policy document (P17): `GET /privacy` (the version in force, as an HTML page,
to anyone, no login), `/privacy/versions` and `/privacy/versions/{number}` (every version,
old ones included), the same as JSON under `/v1/policy-document`, and publishing a new
version (`POST /v1/policy-document/versions`, legal only, ledgered, announced to customers).

Every piece of text on the pages is HTML-escaped: a version's text is written by staff, and
the page is served to anyone. The pages need no script or style, so the API's strict
`Content-Security-Policy: default-src 'none'` applies to them unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from entrusted.domain.policy_document import (
    MAX_SUMMARY_CHARS,
    MAX_TEXT_CHARS,
    PolicyVersion,
    sections,
)
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.entrypoints.api.strict import StrictIn
from entrusted.services.policy_document import PolicyPage

pages = APIRouter(prefix="/privacy", tags=["policy document"])
router = APIRouter(prefix="/v1/policy-document", tags=["policy document"])

# No bounds here: a number never published (0, or one with twenty digits) is `404`, as for
# any other missing version; the service answers that before the store is asked.
VersionNumber = Annotated[int, Path(description="The version's number.")]


class VersionOut(BaseModel):
    number: int
    effective: date = Field(description="The UTC day from which this version is in force")
    author: str = Field(description="Who published it (a staff id; `entrusted` for version 1)")
    summary: str = Field(description="What changed, in one line")
    sha256: str = Field(description="SHA-256 of the UTF-8 text, as the ledger names it")
    published_at: datetime

    @classmethod
    def of(cls, v: PolicyVersion) -> VersionOut:
        return cls(
            number=v.number,
            effective=v.effective,
            author=v.author,
            summary=v.summary,
            sha256=v.sha256,
            published_at=v.published_at,
        )


class VersionTextOut(VersionOut):
    text: str
    promises: list[str] = Field(description="The promise ids (P1..P17) its sections state")

    @classmethod
    def full(cls, v: PolicyVersion) -> VersionTextOut:
        stated = sorted({p for s in sections(v.text) for p in s.promises}, key=lambda p: int(p[1:]))
        return cls(**VersionOut.of(v).model_dump(), text=v.text, promises=stated)


class RulesOut(BaseModel):
    sha256: str = Field(description="SHA-256 of the rules file this server enforces")
    deployed_at: datetime | None
    ledger_index: int | None = Field(description="The ledger entry of that deployment")


class CurrentOut(BaseModel):
    version: VersionTextOut
    rules: RulesOut
    upcoming: list[VersionOut] = Field(description="Published versions not yet in force")
    latest_number: int


class PublishIn(StrictIn):
    text: str = Field(max_length=MAX_TEXT_CHARS, description="Sections as `## Title [P1, P2]`")
    effective: date = Field(description="Today (UTC) or later; never before the last version's")
    summary: str = Field(max_length=MAX_SUMMARY_CHARS, description="What changed, in one line")


@router.get("", response_model=CurrentOut, summary="The version in force, with the rules' hash")
def current(c: ContainerDep) -> CurrentOut:
    page = c.policy_documents.current()
    r = page.rules
    return CurrentOut(
        version=VersionTextOut.full(page.version),
        rules=RulesOut(sha256=r.sha256, deployed_at=r.deployed_at, ledger_index=r.ledger_index),
        upcoming=[VersionOut.of(v) for v in page.upcoming],
        latest_number=page.latest_number,
    )


@router.get("/versions", response_model=list[VersionOut], summary="Every version, oldest first")
def versions(c: ContainerDep) -> list[VersionOut]:
    return [VersionOut.of(v) for v in c.policy_documents.versions()]


@router.get("/versions/{number}", response_model=VersionTextOut, summary="One version's text")
def version(number: VersionNumber, c: ContainerDep) -> VersionTextOut:
    return VersionTextOut.full(c.policy_documents.version(number))


@router.post(
    "/versions", response_model=VersionOut, status_code=201, summary="Publish a version (legal)"
)
def publish(body: PublishIn, who: ActorDep, c: ContainerDep) -> VersionOut:
    done = c.policy_documents.publish(who, body.text, body.effective, body.summary)
    return VersionOut.of(done)


# --- the HTML pages --------------------------------------------------------------------------


def _document(title: str, body: list[str]) -> HTMLResponse:
    html = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title></head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )
    return HTMLResponse(html)


def _text(v: PolicyVersion) -> list[str]:
    out: list[str] = []
    for i, s in enumerate(sections(v.text)):
        tag = "h1" if i == 0 and not s.promises else "h2"
        ids = f" <small>[{escape(', '.join(s.promises))}]</small>" if s.promises else ""
        out.append(f"<{tag}>{escape(s.title)}{ids}</{tag}>")
        out.extend(f"<p>{escape(p)}</p>" for p in s.paragraphs)
    return out


def _facts(v: PolicyVersion) -> str:
    return (
        f"<p>Version {v.number}, in force from {v.effective.isoformat()} (UTC); published by "
        f"{escape(v.author)} on {v.published_at.date().isoformat()}: {escape(v.summary)}. "
        f"SHA-256 of the text: <code>{v.sha256}</code>.</p>"
    )


def _rules(page: PolicyPage) -> str:
    r = page.rules
    deployed = (
        f", deployed {r.deployed_at.isoformat()} (ledger entry {r.ledger_index})"
        if r.deployed_at is not None
        else ""
    )
    return (
        "<p>The access rules this server enforces to keep these promises: rules file "
        f"SHA-256 <code>{escape(r.sha256)}</code>{deployed}.</p>"
    )


@pages.get("", response_class=HTMLResponse, summary="The policy in force (HTML, public)")
def privacy(c: ContainerDep) -> HTMLResponse:
    page = c.policy_documents.current()
    v = page.version
    body = [*_text(v), "<hr>", _facts(v), _rules(page)]
    body.extend(
        f'<p>Announced: <a href="/privacy/versions/{u.number}">version {u.number}</a> '
        f"takes effect on {u.effective.isoformat()}: {escape(u.summary)}.</p>"
        for u in page.upcoming
    )
    body.append('<p><a href="/privacy/versions">Every version of this document</a></p>')
    return _document(v.title or "Privacy policy", body)


@pages.get("/versions", response_class=HTMLResponse, summary="Every version (HTML, public)")
def privacy_versions(c: ContainerDep) -> HTMLResponse:
    items = [
        f'<li><a href="/privacy/versions/{v.number}">Version {v.number}</a>, in force from '
        f"{v.effective.isoformat()}: {escape(v.summary)}</li>"
        for v in reversed(c.policy_documents.versions())
    ]
    body = ["<h1>Every version of our privacy policy</h1>", "<ul>", *items, "</ul>"]
    body.append('<p><a href="/privacy">The version in force</a></p>')
    return _document("Privacy policy: versions", body)


@pages.get("/versions/{number}", response_class=HTMLResponse, summary="One version (HTML)")
def privacy_version(number: VersionNumber, c: ContainerDep) -> HTMLResponse:
    v = c.policy_documents.version(number)
    body = [*_text(v), "<hr>", _facts(v)]
    body.append('<p><a href="/privacy">The version in force</a> · '
                '<a href="/privacy/versions">every version</a></p>')
    return _document(f"{v.title} (version {v.number})", body)
