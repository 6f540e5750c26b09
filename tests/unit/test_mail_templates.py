"""The mail renderer (issue 18): every mail template renders in every language with the values
its service hands over; the HTML part escapes what a person typed, the text part shows it as
typed; times are in the reader's zone; an unknown language or zone falls back to the defaults
rather than leaving the customer without their notice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from entrusted.adapters.i18n import SUPPORTED
from entrusted.adapters.mail_templates import MAIL_TEMPLATES, JinjaMailTemplates
from entrusted.domain.outbox import Topic
from entrusted.errors import InvalidInput

AT = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
SCOPE = {"kind": "mailbox", "name": "box@example.org", "read_only": True, "sessions": 2,
         "case_id": "case_1", "until": AT, "hours": None}  # fmt: skip
ROW = {"when": AT, "session_closed": False, "allowed": True, "actor": "Sam Muster",
       "action": "read", "name": "box@example.org", "step": ""}  # fmt: skip
VALUES: dict[str, dict[str, Any]] = {
    "access_request": {"kind": "mailbox", "case_id": "case_1", "scope": {**SCOPE, "hours": 8},
                       "justification": "why", "staff": "Sam Muster", "link": "https://x/a",
                       "expires_at": AT},
    "consent_receipt": {"kind": "ftp_space", "created_at": AT, "identified_by": "sms_code",
                        "scope": SCOPE, "staff": "Sam Muster", "grant_id": "gnt_1",
                        "link": "https://x/b"},
    Topic.GRANTED: {"kind": "mailbox", "staff": "Sam Muster", "scope": SCOPE, "grant_id": "g"},
    Topic.USED: {"kind": "mailbox", "staff": "Sam Muster", "name": "box", "when": AT,
                 "grant_id": "g", "case_id": "c"},
    Topic.ENDED: {"kind": "ftp_space", "grant_id": "g", "name": "n", "reason": "revoked",
                  "sessions_used": 1},
    Topic.CLOSING_SUMMARY: {"case_id": "c", "case_subject": "s", "rows": [ROW],
                            "grants": ["g"], "opened": [{"grant_id": "g", "names": [
                                {"at": AT, "command": "retr", "name": "/a.txt"}]}]},
    Topic.PASSWORD_LINK: {"hours": 48, "link": "https://x/password#token=t"},
    "identification.code": {"code": "012345", "minutes": 10, "expires_at": AT},
    Topic.EMAIL_CHANGE_LINK: {"expires_at": AT, "link": "https://x/email#token=t"},
    Topic.EMAIL_CHANGE_NOTICE: {"new_address": "n***@example.net", "portal": "https://x"},
    Topic.DISCLOSURE_NOTICE: {"first_name": "Léa", "last_name": "Muster", "disclosed_at": AT,
                              "categories": ["contracts"], "court": "CH-ZH",
                              "case_number": "GG1", "issued_on": date(2026, 6, 1)},
}  # fmt: skip
MAILS = JinjaMailTemplates("Example Hosting")


def test_every_template_pair_has_values_here() -> None:
    names = {p.stem for p in MAIL_TEMPLATES.glob("*.txt") if not p.name.startswith("_")}
    assert names == {str(n) for n in VALUES}
    assert names == {p.stem for p in MAIL_TEMPLATES.glob("*.html") if not p.name.startswith("_")}


@pytest.mark.parametrize("language", SUPPORTED)
@pytest.mark.parametrize("name", list(VALUES))
def test_every_mail_renders_in_every_language(name: str, language: str) -> None:
    written = MAILS.write(name, VALUES[name], language, "Europe/Zurich")
    assert written.subject
    assert "\n" not in written.subject
    assert written.text.strip().endswith("Example Hosting")
    assert f'<html lang="{language}">' in written.html
    assert "{{" not in written.text + written.html


def test_the_html_part_escapes_what_a_person_typed_and_the_text_part_keeps_it() -> None:
    values = {**VALUES["access_request"], "justification": "<script>x</script> & co"}
    written = MAILS.write("access_request", values)
    assert "<script>x</script> & co" in written.text
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in written.html
    assert "<script>" not in written.html


def test_times_are_in_the_readers_zone_and_language() -> None:
    ny = MAILS.write(Topic.USED, VALUES[Topic.USED], "de", "America/New_York").text
    assert "1. Juli 2026, 08:00 (New York)" in ny
    zurich = MAILS.write(Topic.USED, VALUES[Topic.USED], "it", None).text  # the default zone
    assert "1 luglio 2026, 14:00 (Zurigo)" in zurich


def test_an_unknown_language_or_zone_falls_back_to_the_defaults() -> None:
    mails = JinjaMailTemplates("Example Hosting", "fr", "Europe/Paris")
    written = mails.write(Topic.PASSWORD_LINK, VALUES[Topic.PASSWORD_LINK], "xx", "Nowhere/At_All")
    assert written.subject == "Définissez votre mot de passe"
    assert mails.write(Topic.USED, VALUES[Topic.USED], None, "Nowhere").text.count("(Paris)") == 1


def test_bad_defaults_and_a_missing_template_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        JinjaMailTemplates("Example Hosting", "rm")
    assert refused.value.field == "default_language"
    with pytest.raises(InvalidInput) as refused:
        JinjaMailTemplates("Example Hosting", "en", "Mars/Olympus")
    assert refused.value.field == "default_time_zone"
    with pytest.raises(InvalidInput, match=r"no mail template nothing\.txt"):
        JinjaMailTemplates("Example Hosting", directory=tmp_path).write("nothing", {})
