"""Backups in the console (P15, P16): the catalogue with each backup's date, the day its key
is destroyed and its status, and a restore into a new directory (or the live service) for a
case or an incident — the calls `/v1/backups` makes (`BackupAccess.archives/restore`), each
asking the gate and ledgering. Support, legal and communications get the refusal page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from entrusted.domain.policy import Action
from entrusted.entrypoints.web.console.support import Line, Token, blank, checked
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require

router = APIRouter()


@router.get("/backups")
def backups(
    request: Request, customer_id: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    actor = require(request, CONSOLE)
    wanted = blank(customer_id)
    if wanted:
        checked(request, actor, Action.LIST, "customer_id", wanted)
    found = container_of(request).backups.access.archives(actor, wanted)
    context = {"archives": found, "customer_id": wanted or ""}
    return render(request, CONSOLE, "console/admin/backups.html", context)


@router.post("/backups/restore")
def restore(
    request: Request,
    backup_id: Annotated[str, Form(max_length=64)] = "",
    target: Line = "",
    case_id: Annotated[str, Form(max_length=64)] = "",
    incident: Annotated[str, Form(max_length=64)] = "",
    into_live: Annotated[bool, Form()] = False,
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    checked(request, actor, Action.RESTORE, "backup_id", backup_id)
    case = blank(case_id)
    if case:
        checked(request, actor, Action.RESTORE, "case_id", case)
    done = container_of(request).backups.access.restore(
        actor, backup_id, blank(target), case_id=case, incident=blank(incident),
        into_live=into_live,
    )  # fmt: skip
    return render(request, CONSOLE, "console/admin/restored.html", {"done": done})
