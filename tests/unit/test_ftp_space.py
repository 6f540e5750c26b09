"""An FTP space's directory and blind index (issue 14, P9): the directory comes from the
template in one pass and cannot leave the FTP root; the index finds a space by its account
name and never matches an e-mail address's index."""

from __future__ import annotations

import pytest

from entrusted.crypto.blind_index import email_index, ftp_space_index
from entrusted.errors import InvalidInput
from entrusted.services.ftp_login import space_root

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
