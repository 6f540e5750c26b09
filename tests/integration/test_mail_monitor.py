"""The metadata-only monitor (P13, P14) on SQLite and PostgreSQL: totals that match the
Maildir, folder names decoded, no message file opened (an audit hook watches every `open`),
every look decided by the gate and ledgered; the API route and the CLI command too."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from entrusted.adapters.mail.maildir import MaildirReader
from entrusted.bootstrap import Container
from entrusted.config import Settings
from entrusted.domain.mail import decode_folder_name
from entrusted.entrypoints.api.app import create_app
from entrusted.errors import NotFound
from tests.integration.test_consent_sql import register
from tests.integration.test_registry_sql import ledgered, staff
from tests.refusals import default_denied

pytestmark = pytest.mark.promise("P13", "P14")

ADDRESS = "1reto.rueegsegger@example.org"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    template = str(tmp_path / "mail" / "%d" / "%n" / "Maildir")
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, mail_root_template=template
    )


def make_maildir(root: Path) -> None:
    """INBOX: 2 sized + 1 unsized message; `.Entw&APw-rfe` (Entwürfe): 1; `.A.B`: 1."""
    for folder in ("", ".Entw&APw-rfe", ".A.B"):
        for sub in ("cur", "new", "tmp"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
    (root / "cur" / "1700000000.M1P1.host,S=100,W=104:2,S").touch()
    (root / "new" / "1700000001.M2P1.host,S=50").touch()
    (root / "cur" / "1700000002.M3P1.other:2,").write_bytes(b"x" * 30)  # no S=: stat()
    (root / "tmp" / "1700000003.M4P1.host,S=999").touch()  # delivery in progress: skipped
    (root / ".Entw&APw-rfe" / "cur" / "1700000004.M5P1.host,S=7,W=8:2,T").touch()
    (root / ".A.B" / "new" / "1700000005.M6P1.host,S=9,W=9").touch()


def watch_opens(root: Path) -> list[str]:
    """Every file opened under `root` from now on, however its path is spelt: the Maildir
    reader walks bytes paths, and `str(b"/x")` is `"b'/x'"`, which never matched `root`."""
    opened: list[str] = []
    prefix = str(root) + os.sep

    def watch(event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not isinstance(args[0], str | bytes | os.PathLike):
            return  # an open of a file descriptor names no path
        path = os.fsdecode(args[0])
        if path.startswith(prefix):
            opened.append(path)

    sys.addaudithook(watch)  # cannot be removed; it only records paths under `root`
    return opened


def test_open_watch_catches_a_planted_open(tmp_path: Path) -> None:
    """The P13 check must fail when a message is opened, whether by str or by bytes path."""
    root = tmp_path / "Maildir"
    make_maildir(root)
    opened = watch_opens(root)
    message = root / "cur" / "1700000002.M3P1.other:2,"
    with open(os.fsencode(message), "rb"):  # noqa: PTH123 - a bytes path is the case here
        pass
    message.read_bytes()
    assert opened == [str(message), str(message)]
    assert MaildirReader().folders(str(root)) is not None
    assert len(opened) == 2  # the reader itself opened nothing


def test_modified_utf7_names() -> None:
    assert decode_folder_name("Entw&APw-rfe") == "Entwürfe"
    assert decode_folder_name("&ZeVnLIqe-") == "日本語"
    assert decode_folder_name("R&-D") == "R&D"


def test_monitor_reports_totals_without_opening_a_message(
    container: Container, tmp_path: Path
) -> None:
    c = container
    support = staff(c, "sam", "support")
    cus, _, svc = register(c, 1)
    root = tmp_path / "mail" / "example.org" / "1reto.rueegsegger" / "Maildir"
    make_maildir(root)
    opened = watch_opens(root)
    meta = c.mailbox_monitor.metadata(support, ADDRESS.upper())
    assert opened == []
    assert meta.service_id == svc["mailbox"]
    by_name = {f.name: f for f in meta.folders}
    assert list(by_name) == ["INBOX", "A/B", "Entwürfe"]
    assert (by_name["INBOX"].messages, by_name["INBOX"].bytes) == (3, 180)
    assert (by_name["INBOX"].vbytes, by_name["INBOX"].unsized) == (184, 1)
    assert (meta.messages, meta.bytes, meta.vbytes) == (5, 196, 201)
    last = ledgered(c)[-1]
    assert (last.rule, last.resource_id, last.owner) == (
        "support-monitors-mailbox-metadata",
        svc["mailbox"],
        cus,
    )
    assert "reto" not in repr(meta)  # the address is not in what comes back


def test_monitor_refusals_are_ledgered(container: Container) -> None:
    c = container
    office = staff(c, "otto", "other")
    register(c, 1)
    with default_denied("other to list_metadata mailbox_metadata", ledger=lambda: ledgered(c)[-1]):
        c.mailbox_monitor.metadata(office, ADDRESS)
    # An unknown address: the same refusal for a role the rules refuse (no 404-vs-403 oracle
    # of which addresses are hosted), ledgered like any other
    with default_denied("other to list_metadata mailbox_metadata", ledger=lambda: ledgered(c)[-1]):
        c.mailbox_monitor.metadata(office, "nobody@example.org")
    with pytest.raises(NotFound) as unknown:
        c.mailbox_monitor.metadata(staff(c, "sam", "support"), "nobody@example.org")
    last = ledgered(c)[-1]
    assert (last.rule, last.decision, last.resource_id) == (
        "mail.metadata-unknown-mailbox",
        "deny",
        "unknown-mailbox",
    )
    with pytest.raises(NotFound) as no_store:  # a hosted mailbox with no directory yet
        c.mailbox_monitor.metadata(staff(c, "sue", "support"), ADDRESS)
    # the same answer as for no mailbox at all, naming no service id
    assert str(no_store.value) == str(unknown.value)
    assert "svc_" not in str(no_store.value)


def test_reader_stats_only_unsized_names(tmp_path: Path) -> None:
    make_maildir(tmp_path / "Maildir")
    assert MaildirReader().folders(str(tmp_path / "absent")) is None
    folders = MaildirReader().folders(str(tmp_path / "Maildir"))
    assert folders is not None
    assert sum(f.unsized for f in folders) == 1


def test_api_route_and_cli_command(container: Container, tmp_path: Path) -> None:
    c = container
    staff(c, "sam", "support")
    register(c, 1)
    make_maildir(tmp_path / "mail" / "example.org" / "1reto.rueegsegger" / "Maildir")
    token = c.staff.issue_token("sam", "test").secret
    client = TestClient(create_app(container=c))
    got = client.get(
        f"/v1/mailboxes/{ADDRESS}/metadata", headers={"Authorization": f"Bearer {token}"}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["messages"], body["bytes"]) == (5, 196)
    assert [f["name"] for f in body["folders"]] == ["INBOX", "A/B", "Entwürfe"]
    hook = c.staff.issue_service_token("mail_hook", "dovecot").secret
    denied = client.post(
        "/v1/gate/mail-login",
        json={"target": ADDRESS, "staff": "sam", "password": "wrong", "remote_ip": "192.0.2.1"},
        headers={"Authorization": f"Bearer {hook}"},
    )
    assert (denied.status_code, denied.json()["allow"]) == (403, False)
    wrong_password = ledgered(c)[-1]
    assert (wrong_password.decision, wrong_password.rule) == ("deny", "mail.staff-unauthenticated")
    not_hook = client.post(
        "/v1/gate/mail-login",
        json={"target": ADDRESS, "staff": "sam", "password": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    # the hook's plain answer carries no rule field: the ledger names it
    assert (not_hook.status_code, ledgered(c)[-1].rule) == (403, "mail.hook-only")
    from entrusted.entrypoints.cli.main import app

    env = {"ENTRUSTED_DATABASE_URL": c.settings.effective_database_url,
           "ENTRUSTED_DATA_DIR": str(c.settings.data_dir),
           "ENTRUSTED_MAIL_ROOT_TEMPLATE": c.settings.mail_root_template,
           "ENTRUSTED_TOKEN": token}  # fmt: skip
    out = CliRunner().invoke(app, ["mail", "monitor", ADDRESS, "--as", "sam"], env=env)
    assert out.exit_code == 0, out.output
    assert "Entwürfe" in out.output
    assert "196" in out.output
    snippet = CliRunner().invoke(app, ["mail", "dovecot-config"], env=env)
    assert "auth_cache_size = 0" in snippet.output
    lua = CliRunner().invoke(app, ["mail", "dovecot-config", "--lua"], env=env)
    assert "auth_password_verify" in lua.output
