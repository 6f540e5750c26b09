"""Support cases in the console (P11): open one for a contract, list my cases, a case's page
(status, identifications, access requests and their answers, grants, verbal consents),
resolve it, and continue a resolved one as a new case.

The same service calls as `/v1/cases`: `CaseService.open/find/get/resolve/reopen`, each asking
the gate and ledgering. A role the rules do not let handle cases gets the refusal page with
the rule, whichever page it opens. Every change answers 303 to the case's page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from entrusted.domain.policy import Action
from entrusted.domain.registry import IdentificationMethod
from entrusted.entrypoints.web.console.names import staff_names
from entrusted.entrypoints.web.console.support import IdField, Token, blank, checked
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.errors import InvalidInput
from entrusted.services.cases import PAGE_MAX

router = APIRouter()
Subject = Annotated[str, Form(max_length=200)]


def case_page(case_id: str) -> RedirectResponse:
    return RedirectResponse(f"{CONSOLE.path}/cases/{case_id}", 303)


@router.get("/cases")
def my_cases(
    request: Request,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    actor = require(request, CONSOLE)
    wanted = blank(status)
    found = container_of(request).cases.find(actor, wanted, None, PAGE_MAX)
    context = {"cases": found, "status": wanted or "", "page_max": PAGE_MAX}
    return render(request, CONSOLE, "console/cases.html", context)


@router.post("/cases")
def open_case(
    request: Request,
    contract_id: IdField = "",
    subject: Subject = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    contract = checked(request, actor, Action.CREATE, "contract_id", contract_id.strip())
    if not subject.strip():
        raise InvalidInput("subject", "say in a few words what the case is about")
    case = container_of(request).cases.open(actor, contract, subject)
    return case_page(case.id)


@router.get("/cases/{case_id}")
def case(request: Request, case_id: str) -> Response:
    actor = require(request, CONSOLE)
    checked(request, actor, Action.READ, "case_id", case_id)
    c = container_of(request)
    view = c.cases.get(actor, case_id)
    methods = list(IdentificationMethod)
    staff = [view.case.opened_by, view.case.resolved_by]
    staff += [i.staff_id for i in view.identifications] + [g.staff_id for g in view.grants]
    context = {"view": view, "case": view.case, "now": c.clock(), "methods": methods,
               "names": staff_names(c, staff)}  # fmt: skip
    return render(request, CONSOLE, "console/case.html", context)


@router.post("/cases/{case_id}/resolve")
def resolve(request: Request, case_id: str, csrf: Token = None) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.RESOLVE, "case_id", case_id)
    container_of(request).cases.resolve(actor, case_id)
    return case_page(case_id)


@router.post("/cases/{case_id}/reopen")
def reopen(request: Request, case_id: str, subject: Subject = "", csrf: Token = None) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.CREATE, "case_id", case_id)
    new = container_of(request).cases.reopen(actor, case_id, blank(subject))
    return case_page(new.id)
