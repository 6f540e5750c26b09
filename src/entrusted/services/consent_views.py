"""A consent as the customer reads it on a page (P10, P11): the stored request or grant plus
what it names in words a person knows: the hosted service by its name (opened with the
holder's key), the staff member by their display name (never a `stf_` id), the case by its
subject. The services return these after the gate allowed the read (`ConsentService.
request_view`, `GrantService.view`, `GrantService.active_for_customer`).

Why here and not in the page: names are personal data opened with the registry's keys, and
the pages never reach the keys; the same words the customer's e-mails use (`ConsentNotices`)
are used, so a page and a mail never name one consent differently.

```python
view = consent.request_view(customer, "acr_1")
view.staff_name, view.service_name, view.grant_until   # "Sam Support", "box@example.org", ...
```
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from entrusted.domain.cases import AccessRequest, Grant, RequestStatus
from entrusted.services.consent_parts import ConsentParts


@dataclass(frozen=True, slots=True)
class RequestView:
    """An access request in words; `grant_until` is when a grant approved now would end at
    the latest (the request itself names no end)."""

    request: AccessRequest
    state: RequestStatus
    service_kind: str
    service_name: str
    staff_name: str
    case_subject: str
    grant_until: datetime

    @property
    def pending(self) -> bool:
        return self.state is RequestStatus.PENDING


@dataclass(frozen=True, slots=True)
class GrantView:
    """A grant in words, and whether it is active now."""

    grant: Grant
    active: bool
    service_kind: str
    service_name: str
    staff_name: str
    case_subject: str


def _subject(parts: ConsentParts, case_id: str) -> str:
    with parts.uow() as uow:
        case = uow.cases.get(case_id)
    return case.subject if case is not None else case_id


def describe_request(parts: ConsentParts, request: AccessRequest) -> RequestView:
    now = parts.clock()
    return RequestView(
        request,
        request.state_at(now),
        request.service_kind.value,
        parts.notices.service_name(request.contract_id, request.service_id),
        parts.notices.staff(request.staff_id),
        _subject(parts, request.case_id),
        now + parts.limits.grant_max_duration,
    )


def describe_grant(parts: ConsentParts, grant: Grant) -> GrantView:
    return GrantView(
        grant,
        grant.active_at(parts.clock()),
        grant.service_kind.value,
        parts.notices.service_name(grant.contract_id, grant.service_id),
        parts.notices.staff(grant.staff_id),
        _subject(parts, grant.case_id),
    )
