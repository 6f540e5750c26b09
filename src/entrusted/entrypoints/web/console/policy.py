"""The policy document's versions in the console (P17): every version (public anyway, at
/privacy/versions) and publishing a new one — `PolicyDocumentService.publish`, as
`POST /v1/policy-document/versions` calls it: legal only, decided and ledgered, announced to
the customers by the terms-amendment mailing. Any other role gets the refusal page."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.policy_document import MAX_SUMMARY_CHARS, MAX_TEXT_CHARS
from entrusted.entrypoints.web.console.names import staff_names
from entrusted.entrypoints.web.console.support import Token
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require

router = APIRouter()


@router.get("/policy")
def versions(request: Request) -> Response:
    require(request, CONSOLE)
    c = container_of(request)
    versions = list(reversed(c.policy_documents.versions()))
    context = {"versions": versions, "names": staff_names(c, [v.author for v in versions]),
               "today": c.clock().date(), "max_text": MAX_TEXT_CHARS,
               "max_summary": MAX_SUMMARY_CHARS}  # fmt: skip
    return render(request, CONSOLE, "console/admin/policy.html", context)


@router.post("/policy")
def publish(
    request: Request,
    effective: Annotated[date, Form()],
    text: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
    summary: Annotated[str, Form(max_length=MAX_SUMMARY_CHARS)] = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    container_of(request).policy_documents.publish(actor, text, effective, summary)
    return RedirectResponse(f"{CONSOLE.path}/policy", 303)
