"""An FTP backup space's sizes for support (P9, in P13's spirit; P14): how many files the
space holds and how many bytes they take, never a file or folder name, and every look asked
of the gate and ledgered (`support-sees-ftp-space-sizes`, support only).

A space is found by its account name through its keyed blind index (`find_ftp_space`; the
stored name is encrypted); its directory comes from the FTP server's path template
(`ftp_root_template`, `space_root`), and the `FtpSpaceReader` walks it without following a
symbolic link.

Why the gate is asked before an unknown name is answered: otherwise a role the rules refuse
could tell, from 404 against 403, which account names exist. An unknown name is therefore
refused by the rules like any other for every role but support, and for support it is a
ledgered `ftp.sizes-unknown-space` and `NotFound`.

```python
sizes = monitor.sizes(support, "office-backup")      # ledgered: support-sees-ftp-space-sizes
sizes.files, sizes.bytes
```
"""

from __future__ import annotations

from entrusted.domain.ftp_space import FtpSpaceSizes
from entrusted.domain.policy import Action, Actor, Resource, ResourceKind
from entrusted.errors import NotFound
from entrusted.services.ftp_login import space_root
from entrusted.services.ftp_space import find_ftp_space
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from entrusted.services.ports import FtpSpaceReader
from entrusted.services.registry import RegistryParts

NOTE = "ftp space sizes"
UNKNOWN = Resource(ResourceKind.FTP_SPACE_METADATA, "unknown-ftp-space")


class FtpSpaceMonitor:
    def __init__(self, parts: RegistryParts, reader: FtpSpaceReader, root_template: str) -> None:
        self._parts = parts
        self._reader = reader
        self._template = root_template

    def sizes(self, actor: Actor, name: str) -> FtpSpaceSizes:
        """The space's file count and total size, once the gate allowed `list_metadata` on
        its `ftp_space_metadata` and ledgered it; Refused or NotFound (ledgered) otherwise."""
        found = find_ftp_space(self._parts, name)
        resource = (
            UNKNOWN
            if found is None
            else Resource(ResourceKind.FTP_SPACE_METADATA, found.service_id, found.holder_id)
        )
        context = AccessContext(note=NOTE)
        self._parts.gate.decide(actor, Action.LIST_METADATA, resource, context)
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
