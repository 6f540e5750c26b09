"""The names staff opened in a customer's FTP space reach the customer's closing summary, and
nowhere else (issue 14 item 3, P9, P14): each listing, directory change and download under a
grant is ledgered by id only; the name is sealed under the customer's data key beside the
ledger and opened when the summary is delivered. Real FTPS server and client, the outbox
delivered to the directory transport, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import ftplib
import io
import logging

import pytest
import sqlalchemy as sa

from entrusted.adapters.contacts import Contacts
from entrusted.adapters.db import tables as t
from entrusted.adapters.db.grant_step_store import SqlGrantStepStore
from entrusted.adapters.db.uow import SqlUnitOfWork
from entrusted.bootstrap import Container
from entrusted.errors import TamperDetected
from entrusted.services.consent_notices import visible
from entrusted.services.grant_steps import GrantSteps
from entrusted.services.registry import RegistryParts
from tests.integration.ftp_world import FtpWorld, ftp_world
from tests.integration.test_ftp_staff import wait_for
from tests.integration.test_registry_sql import PASSWORD, staff

pytestmark = pytest.mark.promise("P9", "P14")

__all__ = ["ftp_world"]  # the fixture, imported to be found
NAME = "invoice-2026.pdf"
FOLDER = "tax-papers"


def summary_mail(c: Container, case_id: str) -> str:
    """The closing summary of `case_id` as the customer receives it: the outbox delivered
    through the directory transport, the .eml file read back and decoded."""
    c.outbox.deliver()
    subject = f"Case {case_id} resolved: what was accessed"
    for path in sorted((c.settings.effective_message_dir / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["Subject"] == subject:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(f"no closing summary for {case_id} was delivered")


def test_the_closing_summary_names_what_staff_opened_and_the_ledger_does_not(
    ftp_world: FtpWorld, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    w = ftp_world
    who = w.customer(1)
    mine = w.login(who.name, who.password)
    mine.storbinary(f"STOR {NAME}", io.BytesIO(b"%PDF-1.7"))
    mine.mkd(FOLDER)
    mine.storbinary(f"STOR {FOLDER}/receipt.txt", io.BytesIO(b"paid"))  # an empty listing
    mine.quit()  # over TLS races the data channel's handshake in ftplib
    sam = staff(w.c, "sam", "support")
    case_id, grant_id = w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    ftp.cwd(FOLDER)
    assert ftp.nlst() == ["receipt.txt"]
    ftp.cwd("..")
    assert "receipt.txt" in ftp.sendcmd(f"STAT {FOLDER}")  # a listing on the control channel
    got = io.BytesIO()
    ftp.retrbinary(f"RETR {NAME}", got.write)
    assert got.getvalue() == b"%PDF-1.7"
    ftp.quit()
    w.c.cases.resolve(sam, case_id)
    summary = summary_mail(w.c, case_id)
    assert f"Files and folders asked for under permission {grant_id}" in summary
    for line in (f"cwd /{FOLDER}", f"nlst /{FOLDER}", f"stat /{FOLDER}", f"retr /{NAME}"):
        assert line in summary, summary
    # The ledger, the sealed rows, the logs and the server's output never hold a name.
    store = w.c.ledger_store
    bodies = store.entries(0, store.stored_size())
    assert bodies
    assert not [b for b in bodies if NAME.encode() in b or FOLDER.encode() in b]
    with w.c.engine.connect() as conn:
        rows = conn.execute(sa.select(t.grant_step.c.name, t.grant_step.c.grant_id)).all()
    assert len(rows) == 5  # cwd, nlst, cwd .., stat, retr
    assert {r.grant_id for r in rows} == {grant_id}
    assert not [r for r in rows if NAME.encode() in r.name or FOLDER.encode() in r.name]
    out = capfd.readouterr()
    assert NAME not in caplog.text + out.out + out.err
    assert FOLDER not in caplog.text + out.out + out.err


def test_a_sealed_name_opens_only_for_its_customer_grant_and_step(ftp_world: FtpWorld) -> None:
    w = ftp_world
    c = w.c
    parts = RegistryParts(lambda: SqlUnitOfWork(c.engine), c.gate, c.registry_keys, Contacts(),
                          c.clock)  # fmt: skip
    steps = GrantSteps(parts, SqlGrantStepStore(c.engine))
    who, other = w.customer(1), w.customer(2)
    sam = staff(c, "sam", "support")
    _, grant_id = w.grant(sam, who, read_only=True)
    steps.record(who.id, grant_id, 10**9, "retr", f"/{NAME}")
    (opened,) = steps.opened(who.id, [grant_id])[grant_id]
    assert (opened.command, opened.name) == ("retr", f"/{NAME}")
    assert steps.opened(other.id, [grant_id]) == {}  # not another customer's to read
    with c.engine.begin() as conn:  # the same sealed bytes, filed as another step
        (blob,) = conn.execute(sa.select(t.grant_step.c.name)).one()
        conn.execute(t.grant_step.insert().values(
            ledger_index=10**9 + 1, grant_id=grant_id, customer_id=who.id, command="retr",
            name=blob, at=c.clock()))  # fmt: skip
    with pytest.raises(TamperDetected):
        steps.opened(who.id, [grant_id])


def test_the_closing_summary_reads_plainly(ftp_world: FtpWorld) -> None:
    """Trial finding: every line read "enter <space>: allowed", the server's session close was
    an access, names the file system then refused were "opened", and a control character in a
    name did not show. Now: the step's command, the close labelled, names "asked for", and
    control characters escaped visibly."""
    w = ftp_world
    who = w.customer(1)
    sam = staff(w.c, "sam", "support")
    case_id, grant_id = w.grant(sam, who, read_only=True)
    ftp = w.login(f"{who.name}*sam", PASSWORD)
    for name in ("no-such-file.pdf", "bell\x07name.txt"):
        with pytest.raises(ftplib.error_perm):
            ftp.retrbinary(f"RETR {name}", io.BytesIO().write)
    ftp.quit()
    # The server reports the close after its 221 reply: wait for it (the one-off grant ends).
    assert wait_for(lambda: w.c.grants.get(sam, grant_id).end_reason) is not None
    w.c.cases.resolve(sam, case_id)
    summary = summary_mail(w.c, case_id)
    assert f"Files and folders asked for under permission {grant_id}" in summary, summary
    assert "opened under permission" not in summary
    assert "retr /no-such-file.pdf" in summary
    assert "retr /bell\\x07name.txt" in summary
    assert "\x07" not in summary
    # Staff by display name (issue 18), the action in words
    assert f"Staff Member entered {who.name} (ftp retr): allowed" in summary, summary
    assert sam.id not in summary
    assert f"session closed on {who.name} (reported by ftp_server)" in summary, summary
    assert f"ftp_server enter {who.name}" not in summary


def test_hidden_characters_are_escaped_visibly() -> None:
    assert visible("a\x00b") == "a\\x00b"
    assert visible("evil\u202efdp.exe") == "evil\\u202efdp.exe"
    assert visible("two\nlines") == "two\\x0alines"
    assert visible("café/Ünïcode ok") == "café/Ünïcode ok"
