"""Checkpoint and signed-note text against the C2SP examples and Go's sumdb/note vectors."""

from __future__ import annotations

import base64
import doctest
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrusted.domain import checkpoint as checkpoint_module
from entrusted.domain.checkpoint import (
    Checkpoint,
    NoteSignature,
    VerifierKey,
    b64decode_strict,
    format_signed_note,
    format_vkey,
    key_id,
    parse_checkpoint_body,
    parse_signed_note,
    parse_vkey,
)

pytestmark = pytest.mark.promise("P3")

# C2SP tlog-checkpoint's example.
SPEC_ORIGIN = "example.com/behind-the-sofa"
SPEC_ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
SPEC_SIG_B64 = (
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8="
)
SPEC_NOTE = f"{SPEC_ORIGIN}\n20852163\n{SPEC_ROOT_B64}\n\n\u2014 {SPEC_ORIGIN} {SPEC_SIG_B64}\n"

# golang.org/x/mod/sumdb/note note_test.go.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"\u2014 PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"\u2014 EnochRoot {ENOCH_B64}\n"

ROOT = hashlib.sha256(b"root").digest()


# --- Checkpoint bodies -------------------------------------------------------------------------


def test_body_matches_the_spec_example() -> None:
    cp = Checkpoint(SPEC_ORIGIN, 20852163, base64.b64decode(SPEC_ROOT_B64))
    assert cp.body() == f"{SPEC_ORIGIN}\n20852163\n{SPEC_ROOT_B64}\n"
    assert parse_checkpoint_body(cp.body()) == cp


def test_spec_example_note_parses() -> None:
    body, sigs = parse_signed_note(SPEC_NOTE)
    assert parse_checkpoint_body(body) == Checkpoint(
        SPEC_ORIGIN, 20852163, base64.b64decode(SPEC_ROOT_B64)
    )
    blob = base64.b64decode(SPEC_SIG_B64)
    assert sigs == [NoteSignature(SPEC_ORIGIN, blob[:4], blob[4:])]
    assert len(sigs[0].signature) == 64


def test_empty_tree_and_extension_lines_round_trip() -> None:
    empty = Checkpoint("example.com/log", 0, hashlib.sha256(b"").digest())
    assert empty.body() == "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert parse_checkpoint_body(empty.body()) == empty
    extended = Checkpoint("example.com/log", 5, ROOT, ("ext one", "ext two"))
    assert extended.body().endswith("\next one\next two\n")
    assert parse_checkpoint_body(extended.body()) == extended


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GOOD_ROOT = b64(ROOT)


@pytest.mark.parametrize(
    "text",
    [
        f"o\n1\n{GOOD_ROOT}",  # no final newline
        f"o\n1\n{GOOD_ROOT}\n\n",  # empty extension line
        "o\n1\n",
        f"\n1\n{GOOD_ROOT}\n",  # empty origin
        f"o\n01\n{GOOD_ROOT}\n",
        f"o\n-1\n{GOOD_ROOT}\n",
        f"o\n+1\n{GOOD_ROOT}\n",
        f"o\n 1\n{GOOD_ROOT}\n",
        f"o\n1.0\n{GOOD_ROOT}\n",
        f"o\n\u0661\n{GOOD_ROOT}\n",  # an Arabic-Indic digit is not ASCII decimal
        f"o\n{1 << 64}\n{GOOD_ROOT}\n",
        f"o\n\n{GOOD_ROOT}\n",
        "o\n1\nnot base64!\n",
        f"o\n1\n{b64(ROOT[:31])}\n",
        f"o\n1\n{b64(ROOT + b'x')}\n",
        f"o\n1\n{GOOD_ROOT[:-2]}\n",  # unpadded
        f"o\n1\n{GOOD_ROOT[:-2]}Z=\n",  # stray bits in the last character
        f"o\n1\n {GOOD_ROOT}\n",
        f"o\r\n1\r\n{GOOD_ROOT}\r\n",
        f"o\x01\n1\n{GOOD_ROOT}\n",
        f"o\n1\n{GOOD_ROOT}\next\x7f\x00\n",
        "",
    ],
)
def test_malformed_bodies_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_checkpoint_body(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        ("o", -1, ROOT),
        ("o", 1 << 64, ROOT),
        ("o", True, ROOT),
        ("o", 1, ROOT[:31]),
        ("o", 1, bytearray(ROOT)),
    ],
)
def test_checkpoint_validates_its_fields(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(ValueError):
        Checkpoint(origin, size, root)


origins = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=60
)


@given(
    origin=origins,
    size=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(origins, max_size=3),
)
def test_bodies_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_checkpoint_body(cp.body()) == cp


# --- Key IDs and vkeys -------------------------------------------------------------------------


def test_go_verifier_keys_parse_and_reformat() -> None:
    peter = parse_vkey(PETER_VKEY)
    assert peter == VerifierKey("PeterNeumann", bytes.fromhex("c74f20a3"), 1, peter.public_key)
    assert len(peter.public_key) == 32
    assert key_id("PeterNeumann", 1, peter.public_key) == bytes.fromhex("c74f20a3")
    assert format_vkey("PeterNeumann", 1, peter.public_key) == PETER_VKEY
    name, kid, key_type, public = parse_vkey(ENOCH_VKEY)
    assert format_vkey(name, key_type, public) == ENOCH_VKEY
    assert kid.hex() == "af0cfe78"


@given(
    name=st.from_regex(r"[a-z0-9./-]{1,30}", fullmatch=True),
    key=st.binary(min_size=32, max_size=32),
)
def test_vkeys_round_trip(name: str, key: bytes) -> None:
    vkey = format_vkey(name, 1, key)
    assert parse_vkey(vkey) == VerifierKey(name, key_id(name, 1, key), 1, key)


def test_vkey_whose_base64_contains_plus() -> None:
    key = bytes.fromhex("fb") * 32  # base64 "+/v7..." puts '+' right after the type byte
    vkey = format_vkey("log.example", 1, key)
    assert vkey.count("+") > 2
    assert parse_vkey(vkey).public_key == key


def test_key_id_is_the_signed_note_formula() -> None:
    public = bytes(range(32))
    expected = hashlib.sha256(b"log.example\n\x01" + public).digest()[:4]
    assert key_id("log.example", 1, public) == expected
    assert key_id("log.example", 4, public) != expected  # the type separates domains
    with pytest.raises(ValueError):
        key_id("log.example", 256, public)


def test_vkey_of_an_unknown_type_parses_generically() -> None:
    # Go's test key "unknown algorithm, with adjusted key hash": the ID matches, so it parses;
    # whether type 0x65 is acceptable is the verifier's decision.
    parsed = parse_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert parsed.key_type == 0x65


def test_every_mangling_of_a_vkey_is_rejected() -> None:
    """Go's TestNewVerifier: every proper substring and every single-character bump fails."""
    vkey = PETER_VKEY
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(ValueError):
                    parse_vkey(vkey[i:j])
    for i in range(len(vkey)):
        bumped = vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :]
        with pytest.raises(ValueError):
            parse_vkey(bumped)
    wrong_length = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    with pytest.raises(ValueError):
        parse_vkey(wrong_length)
    with pytest.raises(ValueError, match="32 bytes"):
        parse_vkey(format_vkey("short", 1, bytes(31)))


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0", "line\nbreak"])
def test_invalid_key_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        format_vkey(name, 1, bytes(32))
    with pytest.raises(ValueError):
        format_signed_note("text\n", [(name, bytes(68))])


# --- Signed notes ------------------------------------------------------------------------------


def test_go_note_parses_into_text_and_signatures() -> None:
    body, sigs = parse_signed_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert body == GO_TEXT
    peter_blob, enoch_blob = base64.b64decode(PETER_B64), base64.b64decode(ENOCH_B64)
    assert sigs == [
        NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), peter_blob[4:]),
        NoteSignature("EnochRoot", bytes.fromhex("af0cfe78"), enoch_blob[4:]),
    ]
    assert sigs[0].line() == PETER_SIG


def test_format_signed_note_reproduces_go_output() -> None:
    blob = base64.b64decode(PETER_B64)
    assert format_signed_note(GO_TEXT, [("PeterNeumann", blob)]) == GO_TEXT + "\n" + PETER_SIG


def test_text_is_split_at_the_last_blank_line() -> None:
    text = "para one\n\npara two\n"
    body, sigs = parse_signed_note(text + "\n" + PETER_SIG)
    assert body == text
    assert len(sigs) == 1


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        "\udcff" + GO_TEXT + "\n" + PETER_SIG,  # not encodable as UTF-8
        GO_TEXT + "\n" + f"\u2014 Bad Name {PETER_B64}\n",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        GO_TEXT + "\n" + PETER_SIG.replace(" ", "  ", 1),
        GO_TEXT + "\n" + PETER_SIG + "\n",
        GO_TEXT + "\n" + "\u2014 PeterNeumann AAAAAA==\n",  # key ID but no signature
        GO_TEXT + "\n" + f"\u2014 PeterNeumann {PETER_B64[:-1]}\n",
        GO_TEXT + "\r\n" + PETER_SIG,
        GO_TEXT + "\n" + PETER_SIG * 101,
        "",
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(ValueError):
        parse_signed_note(note)


def test_one_hundred_signatures_are_accepted() -> None:
    _, sigs = parse_signed_note(GO_TEXT + "\n" + PETER_SIG * 100)
    assert len(sigs) == 100


@pytest.mark.parametrize(
    ("body", "signatures"),
    [
        ("no newline", [("PeterNeumann", bytes(68))]),
        ("ctrl\x07\n", [("PeterNeumann", bytes(68))]),
        ("fine\n", []),
        ("fine\n", [("PeterNeumann", bytes(4))]),
    ],
)
def test_format_signed_note_refuses_what_parse_would_reject(
    body: str, signatures: list[tuple[str, bytes]]
) -> None:
    with pytest.raises(ValueError):
        format_signed_note(body, signatures)


names = st.text(
    st.characters(min_codepoint=0x21, exclude_categories=["Cs", "Zs", "Zl", "Zp"]).filter(
        lambda c: c != "+" and not c.isspace()
    ),
    min_size=1,
    max_size=30,
)


@given(
    cp=st.builds(Checkpoint, origins, st.integers(0, 10**12), st.binary(min_size=32, max_size=32)),
    sigs=st.lists(st.tuples(names, st.binary(min_size=5, max_size=200)), min_size=1, max_size=5),
)
def test_signed_notes_round_trip(cp: Checkpoint, sigs: list[tuple[str, bytes]]) -> None:
    note = format_signed_note(cp.body(), sigs)
    body, parsed = parse_signed_note(note)
    assert body == cp.body()
    assert parse_checkpoint_body(body) == cp
    assert [(s.name, s.key_id + s.signature) for s in parsed] == sigs


def test_strict_base64() -> None:
    assert b64decode_strict("AAEC") == b"\x00\x01\x02"
    for bad in ["AAE", "AAE=\n", "AA EC", "AAF=", "AAEC====", "\u00e9AAA"]:
        with pytest.raises(ValueError):
            b64decode_strict(bad)


def test_docstring_examples() -> None:
    assert doctest.testmod(checkpoint_module).failed == 0


# --- the signed local record ---------------------------------------------------------------


@given(size=st.integers(0, 2**64 - 1), signed=st.integers(0, 2**64 - 1))
def test_local_record_round_trips(size: int, signed: int) -> None:
    record = checkpoint_module.LocalRecord(
        "example.com/log", signed, bytes(range(32)), size, (bytes(32),) * size.bit_count(), 7
    )
    assert checkpoint_module.parse_local_record(record.body()) == record


def test_a_local_record_is_never_a_checkpoint() -> None:
    """Signed with the log key, the record must not pass for a signed tree head."""
    record = checkpoint_module.LocalRecord("example.com/log", 3, bytes(32), 3, (bytes(32),) * 2, 1)
    with pytest.raises(ValueError):
        checkpoint_module.parse_checkpoint_body(record.body())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.replace("verified 3 1 ", "verified 4 1 "),  # compact range no longer fits
        lambda b: b.replace("signed 3 ", "signed 03 "),
        lambda b: b.replace("v1", "v2"),
        lambda b: b + "extra\n",
        lambda b: b.rstrip("\n"),
    ],
)
def test_a_malformed_local_record_is_refused(mutate: Callable[[str], str]) -> None:
    record = checkpoint_module.LocalRecord("example.com/log", 3, bytes(32), 3, (bytes(32),) * 2, 1)
    with pytest.raises(ValueError):
        checkpoint_module.parse_local_record(mutate(record.body()))
