"""The witness's rules (C2SP tlog-witness) and the cosignature format (C2SP tlog-cosignature),
against its real SQLite state file: it cosigns only checkpoints that extend the last one it
cosigned, refuses a rollback, a rewrite and a fork with the spec's status and says which
check failed, and records every refusal."""

from __future__ import annotations

import doctest
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from entrusted.adapters.witness_store import (
    KEY_FILE,
    SqliteWitnessStore,
    init_witness_dir,
    open_witness,
)
from entrusted.crypto.cosigning import Cosigner, load_cosigner, verified_cosigners
from entrusted.crypto.signing import NoteSigner
from entrusted.domain.checkpoint import Checkpoint, b64decode_strict, parse_signed_note, parse_vkey
from entrusted.domain.cosignature import AddCheckpoint, parse_add_checkpoint
from entrusted.domain.ledger import consistency_proof, leaf_hash, root_of
from entrusted.errors import Conflict, InvalidInput, TamperDetected, Unavailable
from entrusted.services.memory_witness import BareWitnessClient, InMemoryCosignatureStore
from entrusted.services.witness import RefusalKind, Witness, WitnessRefused
from entrusted.services.witness_submit import ConfiguredWitness, WitnessPolicy, WitnessSubmitter

pytestmark = pytest.mark.promise("P3", "P14")

ORIGIN = "log.example.com/ledger"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Log:
    """A tiny in-test log: leaves, their roots and proofs, and its signing key."""

    def __init__(self, signer: NoteSigner, leaves: list[bytes]) -> None:
        self.signer = signer
        self.leaves = leaves

    def root(self, size: int) -> bytes:
        return root_of([leaf_hash(x) for x in self.leaves[:size]])

    def node(self, height: int, index: int) -> bytes:
        return self.root_range(index << height, (index + 1) << height)

    def root_range(self, lo: int, hi: int) -> bytes:
        return root_of([leaf_hash(x) for x in self.leaves[lo:hi]])

    def note(self, size: int) -> str:
        return self.signer.sign_checkpoint(Checkpoint(ORIGIN, size, self.root(size)))

    def request(self, old: int, size: int) -> str:
        proof = consistency_proof(old, size, self.node)
        return AddCheckpoint(old, tuple(proof), self.note(size)).text()


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def log(signer: NoteSigner) -> Log:
    return Log(signer, [f"entry {i}".encode() for i in range(40)])


@pytest.fixture
def witness(tmp_path: Path, signer: NoteSigner) -> tuple[Witness, SqliteWitnessStore]:
    init_witness_dir(tmp_path, "witness.example.org/w1")
    w, store = open_witness(tmp_path, lambda: NOW)
    store.trust(signer.vkey)
    return w, store


def refusal(w: Witness, request: str) -> WitnessRefused:
    with pytest.raises(WitnessRefused) as info:
        w.add_checkpoint(request)
    return info.value


def test_cosignature_line_is_c2sp_v1(log: Log, witness: tuple[Witness, SqliteWitnessStore]) -> None:
    w, _ = witness
    line = w.add_checkpoint(log.request(0, 10))
    vkey = parse_vkey(w.vkey)
    assert vkey.key_type == 0x04
    name = "witness.example.org/w1"
    expected_id = hashlib.sha256(name.encode() + b"\n\x04" + vkey.public_key).digest()[:4]
    dash, got_name, blob64 = line.rstrip("\n").split(" ")
    assert (dash, got_name) == ("\u2014", name)
    blob = b64decode_strict(blob64)
    assert blob[:4] == expected_id
    timestamp = int.from_bytes(blob[4:12], "big")
    assert timestamp == int(NOW.timestamp())
    body, _ = parse_signed_note(log.note(10))
    message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
    Ed25519PublicKey.from_public_bytes(vkey.public_key).verify(blob[12:], message)  # no raise
    assert verified_cosigners(log.note(10) + line, body, [w.vkey]) == {name: timestamp}
    other_body = body.replace("\n10\n", "\n11\n")
    assert verified_cosigners(log.note(10) + line, other_body, [w.vkey]) == {}


def test_follows_growth_from_the_last_cosigned_size(
    log: Log, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    w, store = witness
    w.add_checkpoint(log.request(0, 10))
    w.add_checkpoint(log.request(10, 33))
    w.add_checkpoint(log.request(33, 33))  # an idle re-sign of the same head is cosigned again
    assert store.latest(ORIGIN) is not None
    assert store.latest(ORIGIN).size == 33  # type: ignore[union-attr]
    assert store.refusals() == []


def test_rollback_without_the_key_is_refused_with_the_known_size(
    log: Log, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    """A database thief truncated the log: its old checkpoint (size 20, genuinely signed) is
    all it can show, and the witness has seen 33."""
    w, store = witness
    w.add_checkpoint(log.request(0, 33))
    refused = refusal(w, log.request(20, 20))
    assert (refused.kind, refused.kind.status, refused.known_size) == (
        RefusalKind.STALE_OLD_SIZE,
        409,
        33,
    )
    assert "rollback: this witness last cosigned size 33, not 20" in refused.reason
    refused = refusal(w, log.request(0, 20))  # or claiming from scratch
    assert refused.known_size == 33
    assert [k for _, k, _ in store.refusals()] == ["STALE_OLD_SIZE", "STALE_OLD_SIZE"]


def test_rewrite_with_the_key_is_refused_for_its_proof(
    log: Log, signer: NoteSigner, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    """The operator removed entry 5 and re-signed everything with the real key."""
    w, store = witness
    w.add_checkpoint(log.request(0, 20))
    rewritten = Log(signer, log.leaves[:5] + log.leaves[6:])
    refused = refusal(w, rewritten.request(20, 30))
    assert (refused.kind, refused.kind.status) == (RefusalKind.BAD_PROOF, 422)
    assert "no proof that size 30 extends the size 20" in refused.reason
    same_size = refusal(w, rewritten.request(20, 20))
    assert (same_size.kind, same_size.kind.status) == (RefusalKind.ROOT_MISMATCH, 409)
    assert store.latest(ORIGIN).size == 20  # type: ignore[union-attr]
    assert [k for _, k, _ in store.refusals()] == ["BAD_PROOF", "ROOT_MISMATCH"]


def test_a_forked_log_is_refused(
    log: Log, signer: NoteSigner, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    """Two views: the witness saw one, the fork grew differently from size 12."""
    w, _ = witness
    w.add_checkpoint(log.request(0, 25))
    fork = Log(signer, log.leaves[:12] + [b"other"] * 28)
    refused = refusal(w, fork.request(25, 40))
    assert refused.kind is RefusalKind.BAD_PROOF
    honest_proof = log.request(25, 40).split("\n\n", 1)[0]  # a real proof for another root
    forged = honest_proof + "\n\n" + fork.note(40)
    assert refusal(w, forged).kind is RefusalKind.BAD_PROOF


def test_unknown_log_bad_signature_and_malformed_requests(
    log: Log, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    w, store = witness
    stranger = Log(NoteSigner.generate("other.example.com/log"), log.leaves)
    note = stranger.signer.sign_checkpoint(Checkpoint("other.example.com/log", 3, log.root(3)))
    unknown = refusal(w, AddCheckpoint(0, (), note).text())
    assert (unknown.kind, unknown.kind.status) == (RefusalKind.UNKNOWN_LOG, 404)
    impostor = Log(NoteSigner.generate(ORIGIN), log.leaves)  # right origin, wrong key
    bad_sig = refusal(w, impostor.request(0, 3))
    assert (bad_sig.kind, bad_sig.kind.status) == (RefusalKind.BAD_SIGNATURE, 403)
    too_old = refusal(w, AddCheckpoint(5, (), log.note(3)).text())
    assert (too_old.kind, too_old.kind.status) == (RefusalKind.MALFORMED, 400)
    assert refusal(w, "old 01\n\n" + log.note(3)).kind is RefusalKind.MALFORMED
    assert refusal(w, "old 0\n" + log.note(3)).kind is RefusalKind.MALFORMED
    assert refusal(w, "old 0\nAAAA\n\n" + log.note(3)).kind is RefusalKind.MALFORMED
    assert store.latest(ORIGIN) is None
    assert len(store.refusals()) == 6


def test_request_text_round_trips_and_caps_the_proof() -> None:
    req = AddCheckpoint(7, (bytes(32), bytes(range(32))), "o\n1\nAA==\n\n\u2014 o x\n")
    assert parse_add_checkpoint(req.text()) == req
    too_long = AddCheckpoint(7, (bytes(32),) * 64, "n\n").text()
    with pytest.raises(ValueError, match="more than 63"):
        parse_add_checkpoint(too_long)


def test_witness_key_file_and_state_are_never_overwritten(tmp_path: Path) -> None:
    vkey, _ = init_witness_dir(tmp_path, "witness.example.org/w1")
    assert load_cosigner(tmp_path / KEY_FILE).vkey == vkey
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    with pytest.raises(Conflict):
        init_witness_dir(tmp_path, "witness.example.org/w1")
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(InvalidInput, match="group or others may read it"):
        load_cosigner(tmp_path / KEY_FILE)


def test_policy_counts_only_trusted_valid_cosignatures(log: Log) -> None:
    w1, w2, w3 = (Cosigner.generate(f"witness.example.org/w{i}") for i in (1, 2, 3))
    note = log.note(10)
    body, _ = parse_signed_note(note)
    cosigned = note + w1.cosign(body, 1) + w3.cosign(body, 2)  # w3 is not trusted
    policy = WitnessPolicy((w1.vkey, w2.vkey), 1)
    assert policy.check(cosigned) == {"witness.example.org/w1": 1}
    with pytest.raises(TamperDetected, match="carries 1 valid witness cosignature"):
        WitnessPolicy((w1.vkey, w2.vkey), 2).check(cosigned)
    with pytest.raises(InvalidInput, match="not between 0 and 2"):
        WitnessPolicy((w1.vkey, w2.vkey), 3)
    with pytest.raises(InvalidInput, match="type 0x04"):
        WitnessPolicy((log.signer.vkey,), 1)  # a log key is not a witness key


def test_the_usage_examples_run() -> None:
    from entrusted.crypto import cosigning
    from entrusted.domain import cosignature
    from entrusted.services import witness as witness_module
    from entrusted.services import witness_submit

    for module in (cosigning, cosignature, witness_module, witness_submit):
        assert doctest.testmod(module).failed == 0, module.__name__


# --- the log's side: WitnessSubmitter against an in-process witness speaking bare C2SP -------


def submitter_for(
    log: Log, w: Witness, alerts: list[str], store: InMemoryCosignatureStore | None = None
) -> tuple[WitnessSubmitter, InMemoryCosignatureStore]:
    store = store or InMemoryCosignatureStore()
    submitter = WitnessSubmitter(
        [ConfiguredWitness(w.vkey, BareWitnessClient(w))],
        store,
        lambda old, new: consistency_proof(old, new, log.node),
        lambda: NOW,
        lambda _name, reason: alerts.append(reason),
    )
    return submitter, store


def test_submitter_collects_cosignatures_and_recovers_its_place(
    log: Log, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    w, _ = witness
    alerts: list[str] = []
    submitter, store = submitter_for(log, w, alerts)
    first = submitter.submit(10, log.root(10), log.note(10))
    assert first.count == 1
    assert WitnessPolicy((w.vkey,), 1).check(first.note) == {"witness.example.org/w1": 1796040000}
    store.sizes.clear()  # the log lost track of what the witness cosigned
    second = submitter.submit(25, log.root(25), log.note(25))  # 409 (knows 10), then from 10
    assert (second.count, second.failures, store.sizes) == (1, (), {"witness.example.org/w1": 25})
    assert alerts == []


def test_a_bare_409_at_the_same_size_is_a_fork_and_halts(
    log: Log, signer: NoteSigner, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    w, _ = witness
    alerts: list[str] = []
    submitter, store = submitter_for(log, w, alerts)
    submitter.submit(20, log.root(20), log.note(20))
    fork = Log(signer, log.leaves[:3] + log.leaves[4:])
    forked, _ = submitter_for(fork, w, alerts, store)  # the same log, its history forked
    with pytest.raises(TamperDetected, match="refused size 20"):
        forked.submit(20, fork.root(20), fork.note(20))
    assert len(alerts) == 1
    assert store.halts.keys() == {"witness.example.org/w1"}
    with pytest.raises(TamperDetected, match="signing stopped: a witness reported"):
        forked.check_not_halted()


def test_an_unreachable_witness_is_reported_not_halted(
    log: Log, witness: tuple[Witness, SqliteWitnessStore]
) -> None:
    w, _ = witness

    class Down:
        def add_checkpoint(self, request: AddCheckpoint) -> str:
            raise Unavailable(f"witness down (request for size {len(request.note)})")

    failures: list[tuple[str, ...]] = []
    store = InMemoryCosignatureStore()
    submitter = WitnessSubmitter(
        [ConfiguredWitness(w.vkey, Down())],
        store,
        lambda old, new: consistency_proof(old, new, log.node),
        lambda: NOW,
        lambda _name, reason: pytest.fail(reason),
        failures.append,
    )
    result = submitter.submit(5, log.root(5), log.note(5))
    assert (result.count, result.note) == (0, log.note(5))
    assert len(failures) == 1
    assert failures[0][0].startswith("witness.example.org/w1: witness down")
    submitter.check_not_halted()  # no raise
    # Two of them, one down: one cosignature, which a 1-of-2 policy accepts and 2-of-2 not.
    other = Cosigner.generate("witness.example.org/w2")
    both = WitnessSubmitter(
        [ConfiguredWitness(w.vkey, BareWitnessClient(w)), ConfiguredWitness(other.vkey, Down())],
        store,
        lambda old, new: consistency_proof(old, new, log.node),
        lambda: NOW,
        lambda _name, reason: pytest.fail(reason),
    )
    half = both.submit(5, log.root(5), log.note(5))
    assert half.count == 1
    assert WitnessPolicy((w.vkey, other.vkey), 1).check(half.note).keys() == {
        "witness.example.org/w1"
    }
    with pytest.raises(TamperDetected, match="requires 2 of 2"):
        WitnessPolicy((w.vkey, other.vkey), 2).check(half.note)
