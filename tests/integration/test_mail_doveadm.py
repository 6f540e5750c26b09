"""Mailbox metadata from Dovecot itself (issue 17 item 2, P13, P14), against a real private
Dovecot: the doveadm backend and the Maildir backend (by template and by userdb home) report
the same totals on one Maildir; the doveadm backend reads an mdbox too; it only ever asks for
counts and sizes (a planted field fails closed before doveadm runs); the gate and the ledger
decide exactly as with the Maildir backend; a missing or failing doveadm is Unavailable (503),
never a fallback to the other backend."""

from __future__ import annotations

import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from entrusted.adapters.mail import doveadm_status
from entrusted.adapters.mail.doveadm_status import (
    METADATA_ONLY,
    REQUESTED,
    Doveadm,
    DoveadmMailboxes,
    parse_status,
    status_argv,
)
from entrusted.adapters.mail.mail_location import (
    MaildirMailboxes,
    TemplateLocation,
    UserdbLocation,
)
from entrusted.bootstrap import Container
from entrusted.bootstrap.mail_backends import doveadm, mailbox_reader
from entrusted.config import Settings
from entrusted.domain.mail import FolderStats
from entrusted.entrypoints.api.app import create_app
from entrusted.errors import InvalidInput, NotFound, Unavailable
from tests.conftest import require_service
from tests.integration.mail_world import MailWorld, dovecot, mail_world
from tests.integration.test_consent_sql import register
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import default_denied

ADDRESS = "1reto.rueegsegger@example.org"
MDBOX = "2reto.rueegsegger@example.org"
RULE = "support-monitors-mailbox-metadata"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[MailWorld]:
    require_service(dovecot.dovecot_binary() is not None, "Dovecot with dovecot-auth-lua")
    with mail_world(tmp_path, mail_metadata_backend="doveadm") as w:
        yield w


def doveadm_of(w: MailWorld) -> Doveadm:
    return Doveadm("doveadm", w.server.base / "etc" / "dovecot.conf")


def by_name(
    folders: list[FolderStats] | tuple[FolderStats, ...], sep: str
) -> dict[str, tuple[int, int]]:
    """Folder name (hierarchy separator made `/`) -> (messages, vsize)."""
    return {f.name.replace(sep, "/"): (f.messages, f.vbytes) for f in folders}


def message(i: int) -> str:
    return f"From: a{i}@example.com\r\nSubject: Test {i}\r\n\r\nBody {i}\r\n"


def save(w: MailWorld, address: str, folder: str, n: int) -> int:
    """`n` generated messages delivered into `folder` by Dovecot (`doveadm save`): their
    size in all (CRLF line ends, so the size is also the RFC822.SIZE)."""
    for i in range(n):
        subprocess.run(
            [*w.server.prefix, "doveadm", "-c", str(w.server.base / "etc" / "dovecot.conf"),
             "save", "-u", address, "-m", folder],
            input=message(i), capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    return sum(len(message(i)) for i in range(n))


# --- the request: counts and sizes, nothing else -------------------------------------------


def test_the_request_names_counts_and_sizes_only() -> None:
    assert set(REQUESTED) == METADATA_ONLY == {"messages", "vsize"}
    argv = status_argv(Doveadm("/usr/bin/doveadm", Path("/etc/dovecot/dovecot.conf")), ADDRESS)
    assert argv == [
        "/usr/bin/doveadm", "-c", "/etc/dovecot/dovecot.conf", "-f", "tab", "mailbox",
        "status", "-u", ADDRESS, "messages vsize", "*",
    ]  # fmt: skip


@pytest.mark.parametrize("planted", ["unseen", "guid", "firstsaved", "all"])
def test_a_planted_field_fails_closed_before_doveadm_runs(
    planted: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later change that adds a field to the request stops every look, and doveadm (here a
    script that records being started) never runs."""
    marker = tmp_path / "started"
    script = tmp_path / "doveadm"
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho mailbox\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    reader = DoveadmMailboxes(Doveadm(str(script)))
    assert reader.folders(ADDRESS) == []  # the recorder runs when nothing is planted
    marker.unlink()
    monkeypatch.setattr(doveadm_status, "REQUESTED", (*REQUESTED, planted))
    with pytest.raises(Unavailable, match=f"field\\(s\\) {planted} are not mailbox metadata"):
        reader.folders(ADDRESS)
    assert not marker.exists()
    with pytest.raises(Unavailable, match=planted):
        status_argv(Doveadm("doveadm"), ADDRESS, ("messages", planted))


def test_an_answer_with_another_column_is_refused() -> None:
    assert parse_status("mailbox\tmessages\tvsize\nSent\t2\t10\nINBOX\t1\t5\n") == [
        FolderStats("INBOX", 1, 5, 5),
        FolderStats("Sent", 2, 10, 10),
    ]
    with pytest.raises(Unavailable, match="unexpected columns"):
        parse_status("mailbox\tmessages\tvsize\tunseen\nINBOX\t1\t5\t1\n")
    with pytest.raises(Unavailable, match="malformed"):
        parse_status("mailbox\tmessages\tvsize\nINBOX\t1\n")


@pytest.mark.parametrize("address", ["*@example.org", "a?@example.org", "-A@example.org"])
def test_a_wildcard_address_never_reaches_doveadm(address: str) -> None:
    """doveadm reads `*` and `?` in a user name as wildcards (every matching user)."""
    with pytest.raises(InvalidInput):
        status_argv(Doveadm("doveadm"), address)
    with pytest.raises(InvalidInput):
        UserdbLocation(Doveadm("/nonexistent/doveadm"))(address)


# --- against the real Dovecot ---------------------------------------------------------------


def test_both_backends_report_the_same_totals(world: MailWorld) -> None:
    w = world
    support = staff(w.c, "sam", "support")
    register(w.c, 1)
    root = w.server.add_customer(ADDRESS, "customer-pw")
    dovecot.build_maildir(root, 205, 5)  # INBOX, Folder1..3, Entwürfe; Dovecot-style names
    w.server.give(w.server.mail_root)
    via_doveadm = w.c.mailbox_monitor.metadata(support, ADDRESS)
    template = MaildirMailboxes(TemplateLocation(w.c.settings.mail_root_template))
    userdb = MaildirMailboxes(UserdbLocation(doveadm_of(w), "Maildir"))
    from_template, from_userdb = template.folders(ADDRESS), userdb.folders(ADDRESS)
    assert from_template is not None
    assert from_userdb == from_template  # the userdb home + Maildir is the template's path
    assert (via_doveadm.messages, via_doveadm.vbytes) == (
        sum(f.messages for f in from_template),
        sum(f.vbytes for f in from_template),
    )
    assert via_doveadm.messages == 205
    # Dovecot names folders with its namespace separator (`.` for Maildir++), the Maildir
    # backend with `/`: the same folders, counts and sizes either way.
    assert by_name(via_doveadm.folders, ".") == by_name(from_template, "/")
    assert via_doveadm.folders[0].name == "INBOX"
    assert "Entwürfe" in by_name(via_doveadm.folders, ".")
    last = ledgered(w.c)[-1]
    assert (last.decision, last.rule, last.resource_id) == ("allow", RULE, via_doveadm.service_id)


def test_the_doveadm_backend_reads_mdbox(world: MailWorld) -> None:
    w = world
    support = staff(w.c, "sam", "support")
    register(w.c, 2)
    w.server.add_mdbox_customer(MDBOX, "customer-pw")
    assert w.server.doveadm("mailbox", "create", "-u", MDBOX, "Archiv/2025").returncode == 0
    inbox, archive = save(w, MDBOX, "INBOX", 1), save(w, MDBOX, "Archiv/2025", 2)
    meta = w.c.mailbox_monitor.metadata(support, MDBOX)
    assert by_name(meta.folders, "/") == {"INBOX": (1, inbox), "Archiv/2025": (2, archive)}
    assert (meta.messages, meta.bytes, meta.vbytes) == (3, inbox + archive, inbox + archive)
    assert [f.name for f in meta.folders] == ["INBOX", "Archiv/2025"]
    # The Maildir backend finds no Maildir there: the reason for the doveadm backend.
    userdb = MaildirMailboxes(UserdbLocation(doveadm_of(w), "Maildir"))
    assert userdb.folders(MDBOX) is None


def test_gate_and_ledger_unchanged_with_the_doveadm_backend(world: MailWorld) -> None:
    w = world
    register(w.c, 1)
    w.server.add_customer(ADDRESS, "customer-pw")
    office = staff(w.c, "otto", "other")
    with default_denied(
        "other to list_metadata mailbox_metadata", ledger=lambda: ledgered(w.c)[-1]
    ):
        w.c.mailbox_monitor.metadata(office, ADDRESS)
    support = staff(w.c, "sam", "support")
    meta = w.c.mailbox_monitor.metadata(support, ADDRESS)
    assert [(f.name, f.messages) for f in meta.folders] == [("INBOX", 0)]
    assert (ledgered(w.c)[-1].rule, ledgered(w.c)[-1].decision) == (RULE, "allow")
    register(w.c, 3)
    with pytest.raises(NotFound):  # registered, but unknown to Dovecot's userdb
        w.c.mailbox_monitor.metadata(support, "3reto.rueegsegger@example.org")
    assert UserdbLocation(doveadm_of(w))("nobody@example.org") is None


# --- a missing or failing doveadm: Unavailable, 503, no fallback ------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The doveadm backend with no doveadm: a Maildir exists at the template's path, so a
    silent fallback to the Maildir backend would answer (and fail this test)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        mail_root_template=str(tmp_path / "mail" / "%d" / "%n" / "Maildir"),
        mail_metadata_backend="doveadm",
        doveadm_path=str(tmp_path / "no-such-doveadm"),
    )


def test_a_missing_doveadm_is_unavailable_503(container: Container, tmp_path: Path) -> None:
    c = container
    sam = staff(c, "sam", "support")
    register(c, 1)
    dovecot.build_maildir(tmp_path / "mail" / "example.org" / "1reto.rueegsegger" / "Maildir", 5, 2)
    with pytest.raises(Unavailable, match="doveadm not found"):
        c.mailbox_monitor.metadata(sam, ADDRESS)
    token = c.staff.issue_token("sam", "test").secret
    got = TestClient(create_app(container=c), raise_server_exceptions=False).get(
        f"/v1/mailboxes/{ADDRESS}/metadata", headers={"Authorization": f"Bearer {token}"}
    )
    assert got.status_code == 503, got.text
    assert "reto" not in got.text  # the address is not in the error
    userdb = c.settings.model_copy(
        update={"mail_metadata_backend": "maildir", "mail_location_source": "userdb"}
    )
    with pytest.raises(Unavailable, match="doveadm not found"):
        mailbox_reader(userdb).folders(ADDRESS)


def test_a_failing_doveadm_is_unavailable(tmp_path: Path) -> None:
    require_service(shutil.which("doveadm") is not None, "doveadm")
    broken = Doveadm("doveadm", tmp_path / "missing.conf")
    with pytest.raises(Unavailable, match="doveadm mailbox status failed with status"):
        DoveadmMailboxes(broken).folders(ADDRESS)
    with pytest.raises(Unavailable, match="doveadm user failed with status"):
        UserdbLocation(broken)(ADDRESS)


def test_the_settings_choose_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = Settings(data_dir=tmp_path, mail_root_template="/m/%d/%n/Maildir")
    assert isinstance(mailbox_reader(plain), MaildirMailboxes)
    assert doveadm(plain).argv("user") == ["doveadm", "user"]  # unset: doveadm on PATH
    monkeypatch.setenv("ENTRUSTED_MAIL_METADATA_BACKEND", "doveadm")
    monkeypatch.setenv("ENTRUSTED_DOVEADM_PATH", "/opt/dovecot/bin/doveadm")
    monkeypatch.setenv("ENTRUSTED_DOVEADM_CONFIG", "/etc/dovecot/dovecot.conf")
    chosen = Settings(data_dir=tmp_path)
    assert isinstance(mailbox_reader(chosen), DoveadmMailboxes)
    assert status_argv(doveadm(chosen), ADDRESS)[:3] == [
        "/opt/dovecot/bin/doveadm", "-c", "/etc/dovecot/dovecot.conf",
    ]  # fmt: skip
    with pytest.raises(InvalidInput):
        UserdbLocation(Doveadm("doveadm"), "../elsewhere")
