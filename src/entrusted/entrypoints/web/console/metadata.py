"""A customer's services as support may see them (P13: metadata only): a mailbox's total
size, folder names and messages per folder; an FTP space's file count and total size.

The same service calls as `GET /v1/mailboxes/{address}/metadata` and
`GET /v1/ftp-spaces/{name}/sizes`; each look is asked of the gate and ledgered by the
monitor. The forms are POSTs so a mailbox address never lands in a URL or an access log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from entrusted.domain.policy import Action
from entrusted.entrypoints.web.console.reasons import Reason, carried, reason
from entrusted.entrypoints.web.console.support import Token
from entrusted.entrypoints.web.forms import posted
from entrusted.entrypoints.web.pages import render
from entrusted.entrypoints.web.sessions import CONSOLE, container_of, require
from entrusted.errors import InvalidInput

router = APIRouter()
Address = Annotated[str, Form(max_length=320)]


@router.get("/metadata")
def forms(request: Request) -> Response:
    require(request, CONSOLE)
    return render(request, CONSOLE, "console/metadata.html", {"values": {}})


@router.post("/mailboxes/metadata")
def mailbox(request: Request, address: Address = "", csrf: Token = None) -> Response:
    actor = posted(request, CONSOLE, csrf)
    if not address.strip():
        raise InvalidInput("address", "type the mailbox's address")
    meta = container_of(request).mailbox_monitor.metadata(actor, address.strip())
    context = {"mailbox": meta, "values": {"address": address.strip()}}
    return render(request, CONSOLE, "console/metadata.html", context)


@router.post("/ftp-spaces/sizes")
def ftp_space(
    request: Request,
    name: Address = "",
    case_id: Reason = "",
    ticket: Reason = "",
    csrf: Token = None,
) -> Response:
    actor = posted(request, CONSOLE, csrf)
    if not name.strip():
        raise InvalidInput("name", "type the FTP space's name")
    why = reason(request, actor, Action.LIST_METADATA, case_id, ticket)
    sizes = container_of(request).ftp_space_monitor.sizes(actor, name.strip(), why)
    values = {"name": name.strip(), **carried(why)}
    return render(request, CONSOLE, "console/metadata.html", {"ftp": sizes, "values": values})
