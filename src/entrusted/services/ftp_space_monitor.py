"""An FTP backup space's sizes for support (P9, in P13's spirit; P14): how many files the
space holds and how many bytes they take, never a file or folder name, and every look asked
of the gate and ledgered (`support-sees-ftp-space-sizes`, support only).

A space is found by its account name through its keyed blind index (`find_ftp_space`; the
stored name is encrypted); its directory comes from the FTP server's path template
(`ftp_root_template`, `space_root`), and the `FtpSpaceReader` walks it without following a
symbolic link.

A look at sizes is a support look-up like a customer's summary (`registry_lookup`): it names
an open case or a helpdesk ticket (else `registry.lookup-needs-reason`) and counts against the
same per-staff-member throttle kept in the database (`registry.lookups-throttled`, 429), so
support cannot probe account names freely. A case must be one of the space's holder: another
customer's case is refused under `registry.lookup-needs-reason`, for an unknown name too, so
a case reveals no more than "not this case's customer's space".

Why the gate is asked before an unknown name is answered: otherwise a role the rules refuse
could tell, from 404 against 403, which account names exist. An unknown name is therefore
refused by the rules like any other for every role but support, and for support it is a
ledgered `ftp.sizes-unknown-space` and `NotFound` (or, naming a case, the refusal above).

```python
sizes = monitor.sizes(support, "office-backup", AccessContext(ticket="HD-4711"))
sizes.files, sizes.bytes                             # ledgered: support-sees-ftp-space-sizes
```
"""

from __future__ import annotations

from entrusted.domain.ftp_space import FtpSpaceSizes
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import InvalidInput, NotFound
from entrusted.services.ftp_login import space_root
from entrusted.services.ftp_space import find_ftp_space
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import FtpSpaceReader
from entrusted.services.registry import RegistryParts
from entrusted.services.registry_lookup import CallerLookup

NOTE = "ftp space sizes"
UNKNOWN = Resource(ResourceKind.FTP_SPACE_METADATA, "unknown-ftp-space")


class FtpSpaceMonitor:
    def __init__(
        self,
        parts: RegistryParts,
        reader: FtpSpaceReader,
        root_template: str,
        lookups: CallerLookup,
    ) -> None:
        self._parts = parts
        self._reader = reader
        self._template = root_template
        self._lookups = lookups

    def sizes(self, actor: Actor, name: str, reason: AccessContext) -> FtpSpaceSizes:
        """The space's file count and total size, once the look-up's throttle and reason
        (`reason`: its case or ticket) passed and the gate allowed `list_metadata` on its
        `ftp_space_metadata`, all ledgered; Refused, RateLimited or NotFound otherwise."""
        if not name.strip():
            raise InvalidInput("name", "give the FTP space's account name")
        found = find_ftp_space(self._parts, name)
        resource = (
            UNKNOWN
            if found is None
            else Resource(ResourceKind.FTP_SPACE_METADATA, found.service_id, found.holder_id)
        )
        asked = AccessContext(case_id=reason.case_id, ticket=reason.ticket, note=NOTE)
        context, case_holder = self._lookups.admit(actor, Action.LIST_METADATA, resource, asked)
        self._parts.gate.decide(actor, Action.LIST_METADATA, resource, context)
        if case_holder is not None and (found is None or found.holder_id != case_holder):
            # After the gate, so a role it refuses learns nothing; unknown names and another
            # holder's spaces alike, so a case cannot tell which account names exist.
            self._parts.outcomes.refuse(
                actor,
                Action.LIST_METADATA,
                resource,
                Outcome.LOOKUP_NEEDS_REASON,
                f"{context.case_id} is not an open case of this space's holder",
                context,
            )
        if found is None:
            self._parts.outcomes.record(
                actor,
                Action.LIST_METADATA,
                resource,
                Outcome.FTP_SIZES_UNKNOWN_SPACE,
                f"{NOTE}: no hosted FTP space has that account name",
                context,
                allowed=False,
            )
            raise NotFound("FTP space", "with that account name")
        totals = self._reader.totals(space_root(self._template, name, found.service_id))
        return FtpSpaceSizes(found.service_id, totals.files, totals.bytes)
