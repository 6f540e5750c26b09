"""An FTP space's own password (issue 14 item 2, P9) on the in-memory twins: only the space's
holder sets it, staff never; a weak password or an unknown space changes nothing; a transfer
of the contract clears it; a cancelled contract takes none."""

from __future__ import annotations

import pytest

from entrusted.adapters.contacts import Contacts
from entrusted.crypto.secrets import verify_password
from entrusted.domain.staff import validate_password
from entrusted.errors import Conflict, InvalidInput, NotFound
from entrusted.services.ftp_password import FtpPasswordService
from entrusted.services.registry import RegistryParts
from entrusted.services.registry_forms import ServiceRequest
from tests.refusals import default_denied, refused_by
from tests.unit.registry_world import SUPPORT, SYSADMIN, World, customer

pytestmark = pytest.mark.promise("P9")

PASSWORD = "a long ftp password 1"


@pytest.fixture
def world() -> World:
    return World()


def service(world: World) -> FtpPasswordService:
    return FtpPasswordService(
        RegistryParts(world.store.unit_of_work, world.gate, lambda: world.keys, Contacts(),
                      world.clock)
    )


def holder_with_space(world: World) -> tuple[str, str, str]:
    alice = world.register(services=(ServiceRequest("ftp_space", "backup-7"),))
    (contract,) = world.store.state.contracts.values()
    return alice, contract.id, contract.services[0].id


def hash_of(world: World, space: str) -> str | None:
    found = world.store.state.ftp_passwords.get(space)
    return None if found is None else found[0]


def test_the_holder_sets_it_and_both_steps_are_ledgered(world: World) -> None:
    alice, _, space = holder_with_space(world)
    service(world).set(customer(alice), space, PASSWORD)
    stored = hash_of(world, space)
    assert stored is not None
    assert verify_password(stored, PASSWORD)
    assert world.decisions()[-2:] == [
        (alice, "update", "allow", "customer-sets-own-ftp-password"),
        (alice, "update", "allow", "ftp.password-set"),
    ]


def test_nobody_else_sets_it_and_nothing_changes(world: World) -> None:
    _, _, space = holder_with_space(world)
    bob = world.register()
    ftp = service(world)
    with default_denied("customer to update ftp_space", without="owns_resource",
                        ledger=world.ledger):
        ftp.set(customer(bob), space, PASSWORD)
    for staff in (SUPPORT, SYSADMIN):
        with refused_by("staff-never-set-ftp-passwords", ledger=world.ledger):
            ftp.set(staff, space, PASSWORD)
    assert hash_of(world, space) is None


def test_bad_input_and_unknown_spaces_change_nothing(world: World) -> None:
    alice, _, space = holder_with_space(world)
    ftp = service(world)
    entries = len(world.ledger.entries)
    with pytest.raises(InvalidInput, match="password"):
        ftp.set(customer(alice), space, "short")
    assert len(world.ledger.entries) == entries
    with pytest.raises(NotFound):
        ftp.set(customer(alice), "svc_0000000000000000", PASSWORD)
    with pytest.raises(InvalidInput, match="resource"):
        ftp.set(customer(alice), "svc_\x00", PASSWORD)
    assert world.decisions()[-1][2:] == ("deny", "gate.invalid-request")
    assert hash_of(world, space) is None


def test_a_transfer_clears_it_and_a_cancelled_contract_takes_none(world: World) -> None:
    alice, contract, space = holder_with_space(world)
    bob = world.register()
    ftp = service(world)
    ftp.set(customer(alice), space, PASSWORD)
    world.identify(SUPPORT, alice)
    world.contracts.transfer(SUPPORT, contract, to_customer=bob)
    assert hash_of(world, space) is None
    ftp.set(customer(bob), space, PASSWORD)
    world.contracts.cancel(customer(bob), contract)
    with pytest.raises(Conflict, match="cancelled"):
        ftp.set(customer(bob), space, "another long password")
    stored = hash_of(world, space)
    assert stored is not None
    assert verify_password(stored, PASSWORD)


@pytest.mark.parametrize("bad", [PASSWORD + "\x00", "a long\npassword 1", "a long\tpassword 1"])
def test_a_password_with_a_control_character_is_refused_for_every_account(bad: str) -> None:
    # One rule (`validate_password`) for FTP, customer-account and staff passwords.
    with pytest.raises(InvalidInput, match="control characters"):
        validate_password(bad)
