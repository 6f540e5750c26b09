"""Ids from URLs, query strings and bodies are checked for their shape (`domain.ids`) before
any service sees them: text of another shape is `422 invalid-input`, and the refusal is
ledgered (`gate.invalid-request`) under the placeholder id `invalid`, never the text sent
(trial finding: an e-mail address sent as a customer id ended up in the ledger).

Path ids are annotated types (`customer_id: CustomerId`); body and query ids go through
`check` in the route, which knows the action the request asks for.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from entrusted.bootstrap import Container
from entrusted.domain.ids import is_id
from entrusted.domain.policy import Action, Actor
from entrusted.entrypoints.api.deps import ActorDep, ContainerDep
from entrusted.services.id_fields import FIELDS
from entrusted.services.outcomes import OutcomeRecorder

_BY_METHOD = {
    "GET": Action.READ, "PATCH": Action.UPDATE, "PUT": Action.UPDATE, "DELETE": Action.DELETE
}


def check(c: Container, who: Actor, action: Action, **ids: str | None) -> None:
    """Refuse (ledgered, 422) the first of `ids` (named as in `services.id_fields.FIELDS`)
    that is given but has not the shape of its kind of id."""
    for field, value in ids.items():
        id_kind, resource_kind = FIELDS[field]
        if value is not None and not is_id(id_kind, value):
            OutcomeRecorder(c.gate).invalid_id(who, action, resource_kind, field, id_kind)


# A POST that acts on a grant or an access request is ledgered with the action its service
# asks the gate for (services/grants.py, consent.py), so a malformed id and an unknown one
# read alike in the log; any other POST creates something.
_BY_VERB = {
    "approve": Action.APPROVE,
    "deny": Action.DELETE,
    "revoke": Action.DELETE,
    "end": Action.DELETE,
    "use": Action.ENTER,
}


def _action(request: Request) -> Action:
    if request.method == "POST":
        return _BY_VERB.get(request.url.path.rsplit("/", 1)[-1], Action.CREATE)
    return _BY_METHOD.get(request.method, Action.CREATE)


def _checked(request: Request, who: Actor, c: Container, field: str, value: str) -> str:
    check(c, who, _action(request), **{field: value})
    return value


def _help(field: str) -> str:
    return f"`{FIELDS[field][0].example}`-shaped"


def _customer_id(
    request: Request, who: ActorDep, c: ContainerDep,
    customer_id: Annotated[str, Path(description=_help("customer_id"))],
) -> str:
    return _checked(request, who, c, "customer_id", customer_id)


def _contract_id(
    request: Request, who: ActorDep, c: ContainerDep,
    contract_id: Annotated[str, Path(description=_help("contract_id"))],
) -> str:
    return _checked(request, who, c, "contract_id", contract_id)


def _case_id(
    request: Request, who: ActorDep, c: ContainerDep,
    case_id: Annotated[str, Path(description=_help("case_id"))],
) -> str:
    return _checked(request, who, c, "case_id", case_id)


def _request_id(
    request: Request, who: ActorDep, c: ContainerDep,
    request_id: Annotated[str, Path(description=_help("request_id"))],
) -> str:
    return _checked(request, who, c, "request_id", request_id)


def _grant_id(
    request: Request, who: ActorDep, c: ContainerDep,
    grant_id: Annotated[str, Path(description=_help("grant_id"))],
) -> str:
    return _checked(request, who, c, "grant_id", grant_id)


def _session_id(
    request: Request, who: ActorDep, c: ContainerDep,
    session_id: Annotated[str, Path(description=_help("session_id"))],
) -> str:
    return _checked(request, who, c, "session_id", session_id)


def _identification_id(
    request: Request, who: ActorDep, c: ContainerDep,
    identification_id: Annotated[str, Path(description=_help("identification_id"))],
) -> str:
    return _checked(request, who, c, "identification_id", identification_id)


def _service_id(
    request: Request, who: ActorDep, c: ContainerDep,
    service_id: Annotated[str, Path(description=_help("service_id"))],
) -> str:
    return _checked(request, who, c, "service_id", service_id)


def _backup_id(
    request: Request, who: ActorDep, c: ContainerDep,
    backup_id: Annotated[str, Path(description=_help("backup_id"))],
) -> str:
    return _checked(request, who, c, "backup_id", backup_id)


def _mailing_id(
    request: Request, who: ActorDep, c: ContainerDep,
    mailing_id: Annotated[str, Path(description=_help("mailing_id"))],
) -> str:
    return _checked(request, who, c, "mailing_id", mailing_id)


def _customer_query(
    request: Request, who: ActorDep, c: ContainerDep,
    customer_id: Annotated[str | None, Query(description=_help("customer_id"))] = None,
) -> str | None:
    return None if customer_id is None else _checked(request, who, c, "customer_id", customer_id)


def _case_query(
    request: Request, who: ActorDep, c: ContainerDep,
    case_id: Annotated[str | None, Query(description=_help("case_id"))] = None,
) -> str | None:
    return None if case_id is None else _checked(request, who, c, "case_id", case_id)


CustomerId = Annotated[str, Depends(_customer_id)]
ContractId = Annotated[str, Depends(_contract_id)]
CaseId = Annotated[str, Depends(_case_id)]
RequestId = Annotated[str, Depends(_request_id)]
GrantId = Annotated[str, Depends(_grant_id)]
SessionId = Annotated[str, Depends(_session_id)]
IdentificationId = Annotated[str, Depends(_identification_id)]
ServiceId = Annotated[str, Depends(_service_id)]
BackupId = Annotated[str, Depends(_backup_id)]
MailingId = Annotated[str, Depends(_mailing_id)]
CustomerQuery = Annotated[str | None, Depends(_customer_query)]
CaseQuery = Annotated[str | None, Depends(_case_query)]
