"""An FTP space's directory and blind index (issue 14, P9): the directory comes from the
template in one pass and cannot leave the FTP root; the index finds a space by its account
name and never matches an e-mail address's index."""

from __future__ import annotations

import pytest

from entrusted.adapters.contacts import Contacts
from entrusted.crypto.blind_index import email_index, ftp_space_index
from entrusted.domain.registry import ServiceKind
from entrusted.errors import InvalidInput
from entrusted.services.ftp_login import space_root
from entrusted.services.ftp_space import find_ftp_space
from entrusted.services.hosted import find_hosted
from entrusted.services.mailbox_monitor import find_mailbox
from entrusted.services.registry import RegistryParts
from entrusted.services.registry_forms import ServiceRequest
from tests.unit.registry_world import World

pytestmark = pytest.mark.promise("P9")

KEY = bytes(range(32))


def test_the_root_template_is_expanded_once() -> None:
    assert space_root("/srv/ftp/%n", "office-backup", "svc_1") == "/srv/ftp/office-backup"
    assert space_root("/srv/%i/%n/100%%", "a.b_c", "svc_1") == "/srv/svc_1/a.b_c/100%"


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "%n", "", "x"])
def test_a_name_that_could_leave_the_ftp_root_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        space_root("/srv/ftp/%n", name, "svc_1")


def test_the_index_folds_case_and_differs_from_an_address_index() -> None:
    assert ftp_space_index(KEY, " Office-Backup ") == ftp_space_index(KEY, "office-backup")
    assert ftp_space_index(KEY, "office-backup") != ftp_space_index(KEY, "office-backup2")
    assert ftp_space_index(KEY, "info.example.org") != email_index(KEY, "info@example.org")
    with pytest.raises(InvalidInput):
        ftp_space_index(KEY, "not a name")


def test_one_lookup_finds_a_hosted_service_by_its_blind_index() -> None:
    world = World()
    world.register(
        services=(
            ServiceRequest("ftp_space", "backup-7"),
            ServiceRequest("mailbox", "info@example.org"),
        )
    )
    parts = RegistryParts(world.store.unit_of_work, world.gate, lambda: world.keys, Contacts(),
                          world.clock)  # fmt: skip
    key = world.keys.index_key
    space = find_hosted(parts, ftp_space_index(key, "backup-7"))
    box = find_hosted(parts, email_index(key, "info@example.org"))
    assert space is not None
    assert box is not None
    assert space[1].kind is ServiceKind.FTP_SPACE
    assert box[1].kind is ServiceKind.MAILBOX
    assert find_hosted(parts, ftp_space_index(key, "backup-8")) is None
    # Both areas go through it: the same service, the same contract.
    found = find_ftp_space(parts, "Backup-7")
    assert found is not None
    assert (found.service_id, found.contract) == (space[1].id, space[0])
    assert find_mailbox(parts, "Info@Example.org").service_id == box[1].id
