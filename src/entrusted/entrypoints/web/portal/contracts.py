"""My contracts and services (`/portal/contracts`): the contracts the customer holds and their
hosted services (mailbox, FTP space, web site, domain), and one contract by its id.

Read through the contract service (`ContractService.held_by`, and `get` as `GET
/v1/contracts/{id}` does): the gate decides on the holder as owner, so another customer's
contract id is refused by the rules and the refusal is ledgered; the page shows the rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from entrusted.domain.policy import Action
from entrusted.entrypoints.web.ids import checked
from entrusted.entrypoints.web.portal import me
from entrusted.entrypoints.web.sessions import PORTAL, container_of, require

router = APIRouter()


@router.get("/contracts")
def contracts(request: Request) -> Response:
    actor = require(request, PORTAL)
    held = container_of(request).contracts.held_by(actor, actor.id)
    return me.page(request, actor, "portal/contracts.html", {"contracts": held})


@router.get("/contracts/{contract_id}")
def contract(request: Request, contract_id: str) -> Response:
    actor = require(request, PORTAL)
    c = container_of(request)
    checked(request, actor, Action.READ, "contract_id", contract_id)
    found = c.contracts.get(actor, contract_id)
    return me.page(request, actor, "portal/contracts.html", {"contracts": [found], "one": True})
