"""An FTP space's sizes for support (issue 14, P9 in P13's spirit), on SQLite and PostgreSQL:
the file count and total size match an independent `os.walk` over the files on disk, no name
comes back, symbolic links out of the space are not followed, only support is allowed, and
every look (allowed, refused, unknown) is ledgered; the API route and the CLI command too."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faker import Faker
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrusted.adapters.ftp.space_sizes import FileSystemSpaceReader
from entrusted.bootstrap import Container, build
from entrusted.config import Settings
from entrusted.domain.ftp_space import EMPTY, SpaceTotals
from entrusted.entrypoints.api.app import create_app
from entrusted.entrypoints.api.middleware import redact_path
from entrusted.errors import InvalidInput, NotFound, RateLimited, Refused, Unavailable
from entrusted.services.gate import AccessContext
from entrusted.services.outcomes import Outcome
from tests.conftest import FakeClock
from tests.installations import Installations
from tests.integration.ftp_world import FtpWorld, ftp_world
from tests.integration.test_consent_sql import FTP_NAME, register
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import default_denied, http_default_denied

pytestmark = pytest.mark.promise("P9", "P13")

__all__ = ["ftp_world"]  # the fixture, imported to be found

SPACE = f"{FTP_NAME}1"
SIZES = "support-sees-ftp-space-sizes"
TICKET = AccessContext(ticket="HD-4711")


@pytest.fixture
def c(
    settings: Settings, clock: FakeClock, tmp_path: Path, installations: Installations
) -> Iterator[Container]:
    ftp = settings.model_copy(update={"ftp_root_template": str(tmp_path / "ftp" / "%n")})
    installations.install(ftp)
    built = build(ftp, clock=clock)
    try:
        yield built
    finally:
        built.close()


def oracle(root: Path) -> SpaceTotals:
    """What the space holds, counted independently: regular files under `root`, symbolic
    links neither followed nor counted."""
    files = size = 0
    for top, _, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(top) / name
            if not path.is_symlink() and path.is_file():
                files += 1
                size += path.lstat().st_size
    return SpaceTotals(files, size)


def fill(root: Path) -> list[str]:
    """Files and folders of random names and sizes (empty ones, hidden ones, a name that is
    not UTF-8); returns every name used, for the check that none comes back."""
    fake = Faker()
    fake.seed_instance(14)
    names: list[str] = []
    for depth in range(4):
        folder = root.joinpath(*(f"{fake.word()}-{d}" for d in range(depth)))
        folder.mkdir(parents=True, exist_ok=True)
        names += folder.relative_to(root).parts
        for n in range(3):
            name = f"{fake.file_name()}.{depth}{n}"
            (folder / name).write_bytes(os.urandom(fake.random_int(0, 5000)))
            names.append(name)
    (root / ".hidden").write_bytes(b"h" * 17)
    (root / "empty-folder").mkdir()
    with open(os.fsencode(root) + b"/caf\xe9.bin", "wb") as raw:  # noqa: PTH123 - bytes name
        raw.write(b"x" * 3)
    return [*names, ".hidden", "empty-folder"]


def test_support_sees_totals_matching_the_disk_and_no_name(c: Container, tmp_path: Path) -> None:
    sam = staff(c, "sam", "support")
    cus, _, svc = register(c, 1)
    root = tmp_path / "ftp" / SPACE
    names = fill(root)
    expected = oracle(root)
    assert expected.files == 14
    got = c.ftp_space_monitor.sizes(sam, SPACE.upper(), TICKET)
    assert (got.service_id, got.files, got.bytes) == (svc["ftp_space"], *vars_of(expected))
    last = ledgered(c)[-1]
    assert (last.decision, last.rule, last.resource_kind, last.resource_id, last.owner) == (
        "allow",
        SIZES,
        "ftp_space_metadata",
        svc["ftp_space"],
        cus,
    )
    assert last.refs.get("note") == "ftp space sizes"
    shown = repr(got) + repr(last)
    assert not [n for n in names if n in shown]
    assert SPACE not in shown


def vars_of(totals: SpaceTotals) -> tuple[int, int]:
    return totals.files, totals.bytes


def test_a_symlink_out_of_the_space_is_not_followed(c: Container, tmp_path: Path) -> None:
    sam = staff(c, "sam", "support")
    register(c, 1)
    register(c, 2)
    mine, theirs = tmp_path / "ftp" / SPACE, tmp_path / "ftp" / f"{FTP_NAME}2"
    mine.mkdir(parents=True)
    theirs.mkdir(parents=True)
    (mine / "backup.tar").write_bytes(b"b" * 100)
    (theirs / "secret.tar").write_bytes(b"s" * 5000)
    (mine / "escape").symlink_to(theirs)  # a directory elsewhere
    (mine / "their-file").symlink_to(theirs / "secret.tar")  # a file elsewhere
    (mine / "loop").symlink_to(mine)  # a loop would never end if followed
    got = c.ftp_space_monitor.sizes(sam, SPACE, TICKET)
    assert (got.files, got.bytes) == (1, 100) == vars_of(oracle(mine))


def test_a_space_never_logged_in_to_holds_nothing(c: Container) -> None:
    register(c, 1)
    got = c.ftp_space_monitor.sizes(staff(c, "sam", "support"), SPACE, TICKET)
    assert (got.files, got.bytes) == (0, 0)


@pytest.mark.parametrize("role", ["sysadmin", "communications", "other", "legal"])
def test_every_other_role_is_refused_and_ledgered(c: Container, role: str) -> None:
    register(c, 1)
    who = staff(c, "otto", role)
    target = f"{role} to list_metadata ftp_space_metadata"
    with default_denied(target, ledger=lambda: ledgered(c)[-1]):
        c.ftp_space_monitor.sizes(who, SPACE, TICKET)
    # An unknown name gets the same refusal: no role but support learns which names exist.
    with default_denied(target, ledger=lambda: ledgered(c)[-1]):
        c.ftp_space_monitor.sizes(who, "no-such-space", TICKET)


def test_an_unknown_space_is_not_found_and_ledgered(c: Container) -> None:
    sam = staff(c, "sam", "support")
    register(c, 1)
    for name in ("no-such-space", "../etc"):
        with pytest.raises(NotFound):
            c.ftp_space_monitor.sizes(sam, name, TICKET)
        asked, answered = ledgered(c)[-2:]
        assert (asked.decision, asked.rule, asked.resource_id) == (
            "allow",
            SIZES,
            "unknown-ftp-space",
        )
        assert (answered.actor_id, answered.decision, answered.rule) == (
            sam.id,
            "deny",
            "ftp.sizes-unknown-space",
        )
        assert name not in repr(answered)


def test_reader_fails_closed_on_an_unreadable_space(tmp_path: Path) -> None:
    reader = FileSystemSpaceReader()
    assert reader.totals(str(tmp_path / "absent")) == EMPTY
    (tmp_path / "a-file").write_bytes(b"not a directory")
    with pytest.raises(Unavailable, match="errno") as caught:
        reader.totals(str(tmp_path / "a-file"))
    assert "a-file" not in caught.value.message


def test_files_uploaded_over_ftps_are_counted(ftp_world: FtpWorld) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    who = w.customer(1)
    ftp = w.login(who.name, who.password)
    ftp.mkd("nightly")
    ftp.storbinary("STOR nightly/db.dump", io.BytesIO(b"d" * 4096))
    ftp.storbinary("STOR notes.txt", io.BytesIO(b"n" * 10))
    ftp.quit()
    got = w.c.ftp_space_monitor.sizes(sam, who.name, TICKET)
    assert (got.service_id, got.files, got.bytes) == (who.space_id, 2, 4106)
    assert vars_of(oracle(w.root / who.name)) == (2, 4106)


def test_api_route_and_cli_command(c: Container, tmp_path: Path) -> None:
    staff(c, "sam", "support")
    staff(c, "cora", "communications")
    _, _, svc = register(c, 1)
    root = tmp_path / "ftp" / SPACE
    names = fill(root)
    expected = oracle(root)
    client = TestClient(create_app(container=c))

    def get(name: str, username: str) -> Any:  # the test client's response
        token = c.staff.issue_token(username, "test").secret
        return client.get(
            f"/v1/ftp-spaces/{name}/sizes?ticket=HD-14",
            headers={"Authorization": f"Bearer {token}"},
        )

    got = get(SPACE, "sam")
    assert got.status_code == 200, got.text
    assert got.json() == {
        "service_id": svc["ftp_space"],
        "files": expected.files,
        "bytes": expected.bytes,
    }
    assert not [n for n in names if n in got.text]
    http_default_denied(get(SPACE, "cora"), "communications to list_metadata ftp_space_metadata")
    unknown = get("no-such-space", "sam")
    assert unknown.status_code == 404
    assert ledgered(c)[-1].rule == "ftp.sizes-unknown-space"
    from entrusted.entrypoints.cli.main import app

    env = {"ENTRUSTED_DATABASE_URL": c.settings.effective_database_url,
           "ENTRUSTED_DATA_DIR": str(c.settings.data_dir),
           "ENTRUSTED_FTP_ROOT_TEMPLATE": c.settings.ftp_root_template,
           "ENTRUSTED_TOKEN": c.staff.issue_token("sam", "cli").secret}  # fmt: skip
    sizes = ["ftp", "sizes", SPACE, "--as", "sam", "--ticket", "HD-1"]
    out = CliRunner().invoke(app, sizes, env=env)
    assert out.exit_code == 0, out.output
    assert f"{expected.files:,} files, {expected.bytes:,} bytes" in out.output
    assert not [n for n in names if n in out.output]


def refused_needing_reason(caught: pytest.ExceptionInfo[Refused], c: Container) -> None:
    """The refusal is the look-up rule's, and the newest ledger entry is that denial."""
    assert caught.value.decision.rule_id == Outcome.LOOKUP_NEEDS_REASON.value
    last = ledgered(c)[-1]
    assert (last.decision, last.rule, last.action) == (
        "deny",
        Outcome.LOOKUP_NEEDS_REASON.value,
        "list_metadata",
    )


def test_sizes_need_a_case_or_ticket_like_a_customer_lookup(c: Container) -> None:
    """Trial finding: support could probe account names with no reason and no limit."""
    sam = staff(c, "sam", "support")
    register(c, 1)
    for name in (SPACE, "no-such-space"):  # known or not: the same refusal
        with pytest.raises(Refused) as caught:
            c.ftp_space_monitor.sizes(sam, name, AccessContext())
        refused_needing_reason(caught, c)
        assert name not in repr(ledgered(c)[-1])
    with pytest.raises(InvalidInput) as bad:
        c.ftp_space_monitor.sizes(sam, SPACE, AccessContext(ticket="reto1@example.com"))
    assert bad.value.field == "ticket"


def test_a_case_must_be_the_space_holders(c: Container) -> None:
    sam = staff(c, "sam", "support")
    _, contract1, svc1 = register(c, 1)
    _, contract2, _ = register(c, 2)
    case1 = c.cases.open(sam, contract1, "Backup").id
    case2 = c.cases.open(sam, contract2, "Backup").id
    got = c.ftp_space_monitor.sizes(sam, SPACE, AccessContext(case_id=case1))
    assert got.service_id == svc1["ftp_space"]
    assert ledgered(c)[-1].refs["case"] == case1
    # Another customer's case, for a known or an unknown name: one refusal (no probing).
    for name in (SPACE, "no-such-space"):
        with pytest.raises(Refused) as caught:
            c.ftp_space_monitor.sizes(sam, name, AccessContext(case_id=case2))
        refused_needing_reason(caught, c)
        assert caught.value.decision.reason == f"{case2} is not an open case of this space's holder"


def test_sizes_share_the_lookup_throttle(c: Container) -> None:
    sam = staff(c, "sam", "support")
    cus, _, _ = register(c, 1)
    limit = c.settings.support_lookups_per_minute
    c.registry.summary(sam, cus, TICKET)  # a customer look-up uses the same budget
    for _ in range(limit - 1):
        c.ftp_space_monitor.sizes(sam, SPACE, TICKET)
    with pytest.raises(RateLimited):
        c.ftp_space_monitor.sizes(sam, SPACE, TICKET)
    last = ledgered(c)[-1]
    assert (last.decision, last.rule, last.action) == (
        "deny",
        Outcome.LOOKUPS_THROTTLED.value,
        "list_metadata",
    )


def test_an_empty_name_is_invalid_input_over_the_cli(c: Container) -> None:
    staff(c, "sam", "support")
    from entrusted.entrypoints.cli.main import app

    env = {"ENTRUSTED_DATABASE_URL": c.settings.effective_database_url,
           "ENTRUSTED_DATA_DIR": str(c.settings.data_dir),
           "ENTRUSTED_TOKEN": c.staff.issue_token("sam", "cli").secret}  # fmt: skip
    for name in ("", "  "):
        sizes = ["ftp", "sizes", name, "--as", "sam", "--ticket", "HD-1"]
        out = CliRunner().invoke(app, sizes, env=env)
        assert out.exit_code == 2, out.output
        assert "name" in out.output
    with pytest.raises(InvalidInput):
        c.ftp_space_monitor.sizes(staff(c, "sue", "support"), "", TICKET)


def test_the_api_needs_a_reason_and_the_access_log_hides_the_name(c: Container) -> None:
    staff(c, "sam", "support")
    register(c, 1)
    client = TestClient(create_app(container=c))
    token = c.staff.issue_token("sam", "test").secret
    r = client.get(f"/v1/ftp-spaces/{SPACE}/sizes", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, r.json()["rule"]) == (403, Outcome.LOOKUP_NEEDS_REASON.value)
    assert ledgered(c)[-1].rule == Outcome.LOOKUP_NEEDS_REASON.value
    r = client.get(
        "/v1/ftp-spaces/%20/sizes?ticket=HD-1", headers={"Authorization": f"Bearer {token}"}
    )
    assert (r.status_code, r.json()["field"]) == (422, "name")
    assert redact_path(f"/v1/ftp-spaces/{SPACE}/sizes?ticket=HD-1") == (
        "/v1/ftp-spaces/[name]/sizes?ticket=HD-1"
    )
    assert redact_path("/v1/ftp-spaces/svc_0123/password") == "/v1/ftp-spaces/svc_0123/password"
