"""The FTPS backup space for customers (issue 14, P9), against the real pyftpdlib server on a
loopback port with Python's `ftplib.FTP_TLS`, on SQLite and PostgreSQL: TLS is required, a
customer works in their own space only, and every login is ledgered."""

from __future__ import annotations

import ftplib
import io

import pytest

from tests.integration.ftp_world import FtpWorld, ftp_world
from tests.integration.test_consent_sql import identify
from tests.integration.test_registry_sql import ledgered, staff
from tests.unit.registry_world import customer

pytestmark = pytest.mark.promise("P9")

__all__ = ["ftp_world"]  # the fixture, imported to be found


def test_plain_ftp_is_refused_before_any_password(ftp_world: FtpWorld) -> None:
    w = ftp_world
    who = w.customer(1)
    plain = ftplib.FTP()
    plain.connect("127.0.0.1", w.port, timeout=10)
    with pytest.raises(ftplib.error_perm, match="550 SSL/TLS required on the control channel"):
        plain.login(who.name, who.password)
    plain.close()
    # TLS on the control channel only is not enough: listings and files need PROT P too.
    ftp = w.client()
    ftp.login(who.name, who.password)
    with pytest.raises(ftplib.error_perm, match="550 SSL/TLS required on the data channel"):
        ftp.nlst()
    ftp.quit()


def test_a_customer_works_in_their_own_space_only(ftp_world: FtpWorld) -> None:
    w = ftp_world
    one, two = w.customer(1), w.customer(2)
    ftp = w.login(one.name, one.password)
    ftp.storbinary("STOR backup.tar", io.BytesIO(b"backup bytes" * 1000))
    assert ftp.nlst() == ["backup.tar"]
    got = io.BytesIO()
    ftp.retrbinary("RETR backup.tar", got.write)
    assert got.getvalue() == b"backup bytes" * 1000
    assert (w.root / one.name / "backup.tar").is_file()
    # `..` and absolute paths stay inside the space: its root is the client's "/".
    ftp.cwd("..")
    assert ftp.pwd() == "/"
    assert ftp.nlst("/") == ["backup.tar"]
    with pytest.raises(ftplib.error_perm, match="550"):
        ftp.cwd(str(w.root / two.name))
    # A symlink out of the space (planted on disk) is refused, not followed.
    (w.root / two.name).mkdir(parents=True, exist_ok=True)
    (w.root / two.name / "secret.txt").write_bytes(b"the other customer's file")
    (w.root / one.name / "escape").symlink_to(w.root / two.name)
    with pytest.raises(ftplib.error_perm, match="550"):
        ftp.retrbinary("RETR escape/secret.txt", io.BytesIO().write)
    with pytest.raises(ftplib.error_perm, match="550"):
        ftp.cwd("escape")
    ftp.quit()
    entry = next(e for e in reversed(ledgered(w.c)) if e.actor_id == one.id)
    assert (entry.decision, entry.rule, entry.resource_id) == (
        "allow",
        "customer-uses-own-ftp-space",
        one.space_id,
    )
    # The other customer's space with this customer's own password: refused, and ledgered.
    other = w.client()
    with pytest.raises(ftplib.error_perm, match="530"):
        other.login(two.name, one.password)
    other.close()
    refused = ledgered(w.c)[-1]
    assert (refused.actor_id, refused.decision, refused.rule, refused.resource_id) == (
        "ftp_server",
        "deny",
        "ftp.customer-unauthenticated",
        two.space_id,
    )


def test_a_contract_handed_over_mid_session_closes_the_old_holders_session(
    ftp_world: FtpWorld,
) -> None:
    w = ftp_world
    sam = staff(w.c, "sam", "support")
    one, two = w.customer(1), w.customer(2)
    ftp = w.login(one.name, one.password)
    ftp.storbinary("STOR mine.txt", io.BytesIO(b"mine"))
    identify(w.c, sam, one.id, None)
    w.c.contracts.transfer(sam, one.contract_id, to_customer=two.id)
    with pytest.raises(ftplib.error_temp, match="421 This FTP space is no longer held"):
        ftp.nlst()
    ftp.close()
    gone = ledgered(w.c)[-1]
    assert (gone.actor_id, gone.decision, gone.rule, gone.refs.get("note")) == (
        one.id,
        "deny",
        "ftp.space-gone",
        "ftp nlst",
    )
    with pytest.raises(ftplib.error_perm, match="530"):
        w.login(one.name, one.password)  # the handover cleared the old holder's FTP password
    w.c.ftp_passwords.set(customer(two.id), one.space_id, two.password)
    theirs = w.login(one.name, two.password)
    assert theirs.nlst() == ["mine.txt"]
    theirs.quit()


def test_a_cancelled_contracts_space_takes_no_login(ftp_world: FtpWorld) -> None:
    w = ftp_world
    who = w.customer(1)
    w.login(who.name, who.password).quit()
    w.c.contracts.cancel(customer(who.id), who.contract_id)
    ftp = w.client()
    with pytest.raises(ftplib.error_perm, match="530 Authentication failed"):
        ftp.login(who.name, who.password)  # the one answer of every credential failure
    ftp.close()
    refused = ledgered(w.c)[-1]
    assert (refused.actor_id, refused.decision, refused.rule, refused.resource_id) == (
        "ftp_server",
        "deny",
        "ftp.customer-unauthenticated",
        who.space_id,
    )
