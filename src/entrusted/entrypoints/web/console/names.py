"""Staff as console pages name them: by display name, as staff know each other (trial finding:
pages showed `stf_…` ids where people expected a name). The portal names staff the same way
(`AccessHistory` with `staff_names`).

Names are staff-directory data every console user sees, so reading them asks no gate: the
roles and status of the members stay behind `StaffAdmin.members`. A page resolves every id it
shows in one read of the directory (a few dozen members at most), then renders each with the
`staff_name` macro of templates/console/staff_name.html: the display name, the username in its
`title`. An id no longer on file is "a former staff member" (its id only in the `title`); an
actor that is not a staff member (the operator at the command line, `cli:…`) keeps its id."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from entrusted.bootstrap import Container

STAFF_PREFIX = "stf_"
FORMER = "a former staff member"


@dataclass(frozen=True, slots=True)
class StaffName:
    """How a page shows one actor id: `kind` picks the markup in the template."""

    kind: Literal["staff", "former", "other"]
    display: str
    username: str = ""


def staff_names(c: Container, ids: Iterable[str | None]) -> dict[str, StaffName]:
    """Every id in `ids` (None and empty ones skipped) mapped to its name."""
    wanted = {i for i in ids if i}
    if not any(i.startswith(STAFF_PREFIX) for i in wanted):
        return {i: StaffName("other", i) for i in wanted}
    on_file = {m.id: m for m in c.staff.list_members() if m.id in wanted}
    names: dict[str, StaffName] = {}
    for i in wanted:
        member = on_file.get(i)
        if member is not None:
            names[i] = StaffName("staff", member.display_name, member.username)
        elif i.startswith(STAFF_PREFIX):
            names[i] = StaffName("former", FORMER)
        else:
            names[i] = StaffName("other", i)
    return names
