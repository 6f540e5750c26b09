"""Master-key rotation with the in-memory store: fields untouched, crash mid-way and restart,
every record readable throughout, and the old key needed only until the last row moves."""

from __future__ import annotations

import doctest

import pytest

from entrusted.crypto.envelope import (
    Keyring,
    MasterKey,
    WrappedKey,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap,
    wrap,
)
from entrusted.errors import InvalidInput, TamperDetected, Unavailable
from entrusted.services import memory_keys
from entrusted.services.keys import RotationReport, WrappedKeyStore, rotate
from entrusted.services.memory_keys import InMemoryWrappedKeyStore

pytestmark = pytest.mark.promise("P2")

FIELDS = ("last_name", "first_name", "email")


class Registry:
    """Just enough of a registry: wrapped keys in the store, encrypted fields beside them."""

    def __init__(self, kek: MasterKey, customers: int) -> None:
        self.store = InMemoryWrappedKeyStore()
        self.fields: dict[str, dict[str, bytes]] = {}
        self.plain: dict[str, dict[str, str]] = {}
        for n in range(customers):
            self.add(kek, f"cus_{n:04d}")

    def add(self, kek: MasterKey, customer_id: str) -> None:
        dek = new_data_key()
        values = {
            "last_name": f"Example{customer_id[-4:]}",
            "first_name": "Alex",
            "email": f"{customer_id}@example.com",
        }
        self.store.add(customer_id, wrap(kek, dek))
        self.plain[customer_id] = values
        self.fields[customer_id] = {
            f: encrypt_field(dek, customer_id, f, v) for f, v in values.items()
        }

    def snapshot(self) -> dict[str, dict[str, bytes]]:
        return {cid: dict(fields) for cid, fields in self.fields.items()}

    def assert_all_readable(self, keyring: Keyring) -> None:
        for customer_id, fields in self.fields.items():
            wrapped = self.store.get(customer_id)
            assert wrapped is not None
            dek = unwrap(keyring, wrapped)
            for name in FIELDS:
                assert (
                    decrypt_field(dek, customer_id, name, fields[name])
                    == (self.plain[customer_id][name])
                )


def test_docstrings_run() -> None:
    assert doctest.testmod(memory_keys).failed == 0


def test_in_memory_store_satisfies_the_port() -> None:
    store: WrappedKeyStore = InMemoryWrappedKeyStore()
    assert store.count_by_kek() == {}


def test_rotation_rewraps_every_key_and_leaves_fields_alone() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 25)
    before = registry.snapshot()
    calls: list[tuple[int, int]] = []

    report = rotate(
        registry.store,
        Keyring(new, [old]),
        new,
        progress=lambda done, total: calls.append((done, total)),
        batch_size=10,
    )

    assert report == RotationReport(
        new_kek_id=new.kek_id, already_current=0, rewrapped=25, conflicts=0, remaining={}
    )
    assert report.complete
    assert registry.snapshot() == before  # not one encrypted field changed
    assert registry.store.count_by_kek() == {new.kek_id: 25}
    assert calls == [(10, 25), (20, 25), (25, 25)]
    registry.assert_all_readable(Keyring(new))  # the old key is no longer needed


def test_interrupted_rotation_restarts_and_finishes() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 40)
    before = registry.snapshot()
    ring = Keyring(new, [old])

    registry.store.fail_after = 17  # the database dies after 17 rows
    with pytest.raises(Unavailable):
        rotate(registry.store, ring, new, batch_size=5)

    # Mid-way: a mixed state, every record readable with both keys, the old key still needed.
    assert registry.store.count_by_kek() == {new.kek_id: 17, old.kek_id: 23}
    registry.assert_all_readable(ring)
    with pytest.raises(Unavailable, match=old.kek_id):
        registry.assert_all_readable(Keyring(new))

    registry.store.fail_after = None  # the database is back; run the same command again
    rewritten_before = registry.store.replaces
    report = rotate(registry.store, ring, new, batch_size=5)

    assert report.already_current == 17
    assert report.rewrapped == 23
    assert report.complete
    assert registry.store.replaces - rewritten_before == 23  # re-wrapped rows were not touched
    assert registry.snapshot() == before
    registry.assert_all_readable(Keyring(new))


@pytest.mark.parametrize("crash_after", [0, 1, 9, 10, 11, 29])
def test_crash_at_any_point_is_recoverable(crash_after: int) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 30)
    ring = Keyring(new, [old])
    registry.store.fail_after = crash_after
    with pytest.raises(Unavailable):
        rotate(registry.store, ring, new, batch_size=10)
    registry.assert_all_readable(ring)
    registry.store.fail_after = None
    assert rotate(registry.store, ring, new, batch_size=10).complete
    registry.assert_all_readable(Keyring(new))


def test_a_finished_rotation_run_again_does_nothing() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 5)
    rotate(registry.store, Keyring(new, [old]), new)
    replaces = registry.store.replaces
    report = rotate(registry.store, Keyring(new), new)  # the old key is gone by now
    assert (report.already_current, report.rewrapped, report.complete) == (5, 0, True)
    assert registry.store.replaces == replaces


def test_rotation_refuses_to_start_without_every_old_key() -> None:
    oldest, old, new = MasterKey.generate(), MasterKey.generate(), MasterKey.generate()
    registry = Registry(oldest, 3)
    registry.add(old, "cus_9999")  # an earlier rotation never finished
    with pytest.raises(Unavailable, match=oldest.kek_id):
        rotate(registry.store, Keyring(new, [old]), new)
    assert registry.store.replaces == 0  # nothing written
    report = rotate(registry.store, Keyring(new, [old, oldest]), new)
    assert report.rewrapped == 4
    registry.assert_all_readable(Keyring(new))


def test_lost_compare_and_set_is_counted_and_left_for_the_next_run() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 6)
    ring = Keyring(new, [old])

    class RacingStore(InMemoryWrappedKeyStore):
        """Another writer gives cus_0002 a fresh data key, still under the old master key,
        just before this run's compare-and-set."""

        raced = False

        def replace(self, customer_id: str, old_key: WrappedKey, new_key: WrappedKey) -> bool:
            if customer_id == "cus_0002" and not self.raced:
                self.raced = True
                self.rows[customer_id] = wrap(old, new_data_key())
            return super().replace(customer_id, old_key, new_key)

    racing = RacingStore()
    racing.rows = dict(registry.store.rows)
    report = rotate(racing, ring, new, batch_size=2)
    assert (report.rewrapped, report.conflicts) == (5, 1)
    assert report.remaining == {old.kek_id: 1}
    assert not report.complete

    again = rotate(racing, ring, new)
    assert (again.already_current, again.rewrapped, again.complete) == (5, 1, True)


def test_a_row_deleted_during_rotation_is_a_conflict_not_an_error() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 3)

    class DeletingStore(InMemoryWrappedKeyStore):
        def replace(self, customer_id: str, old_key: WrappedKey, new_key: WrappedKey) -> bool:
            self.delete("cus_0001")
            return super().replace(customer_id, old_key, new_key)

    store = DeletingStore()
    store.rows = dict(registry.store.rows)
    report = rotate(store, Keyring(new, [old]), new, batch_size=3)  # all three in one batch
    assert (report.rewrapped, report.conflicts, report.complete) == (2, 1, True)


def test_a_tampered_wrapped_key_stops_the_rotation() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    registry = Registry(old, 4)
    good = registry.store.rows["cus_0002"]
    registry.store.rows["cus_0002"] = WrappedKey(good.kek_id, good.blob[:-1] + b"\x00")
    with pytest.raises(TamperDetected):
        rotate(registry.store, Keyring(new, [old]), new, batch_size=1)
    assert registry.store.count_by_kek() == {new.kek_id: 2, old.kek_id: 2}


def test_rotation_to_the_current_key_with_an_empty_store() -> None:
    kek = MasterKey.generate()
    report = rotate(InMemoryWrappedKeyStore(), Keyring(kek), kek)
    assert report.complete
    assert report.rewrapped == 0


def test_batch_size_must_be_positive() -> None:
    kek = MasterKey.generate()
    with pytest.raises(InvalidInput):
        rotate(InMemoryWrappedKeyStore(), Keyring(kek), kek, batch_size=0)
