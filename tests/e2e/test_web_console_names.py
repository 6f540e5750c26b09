"""The console names staff by display name (trial finding: pages showed `stf_…` ids where
people expected a name): the start page's "signed in as", a case's opener, resolver,
identifications and grants, the disclosures' proposer and approver, a policy version's author
and a mailing's composer. The id stays out of the visible text (a `title` may carry it); a
member no longer on file is "a former staff member". On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.domain.policy import Actor, ActorKind, Role
from entrusted.entrypoints.web.console.names import FORMER, staff_names
from entrusted.entrypoints.web.pages import environment
from tests.e2e.console_support import agent, identify, open_case, token_of
from tests.e2e.test_web_console_admin import (
    POLICY_TEXT,
    approved_by,
    client,
    court_order,
    customers,
    legal_desk,
    proposed_disclosure,
)
from tests.e2e.web_support import STAFF_PASSWORD
from tests.integration.test_consent_sql import register

pytestmark = pytest.mark.promise("P5", "P11", "P17")
__all__ = ["client"]  # the fixture (the console's pages at the day the schema was installed)

GONE = "stf_00000000deadbeef"  # a staff id no member holds


def visible(page: str) -> str:
    """The page's text as a reader sees it: tags (and so their attributes) stripped, white
    space run together."""
    body = page.split("<body>", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", body)).split())


def shown(client: TestClient, path: str, *names: str) -> str:
    """The page at `path`: each of `names` visible, no staff id visible; its visible text."""
    r = client.get(path)
    assert r.status_code == 200, r.text
    text = visible(r.text)
    for name in names:
        assert name in text, (path, name)
    assert "stf_" not in text, (path, re.findall(r"stf_[0-9a-f]*", text))
    return text


def test_the_start_page_names_who_is_signed_in(client: TestClient, container: Container) -> None:
    sam = agent(client, container, "sam", "support")
    page = client.get("/console/").text
    text = shown(client, "/console/", "Signed in as Support Agent", "sam")
    assert sam not in page  # not even in an attribute: the username says who it is
    assert "(roles: support)" in text


def test_a_case_names_its_opener_resolver_identifier_and_grantee(
    client: TestClient, container: Container
) -> None:
    cus, ctr, svc = register(container, 1)
    sam = agent(client, container, "sam", "support")
    case_id = open_case(client, ctr)
    identify(client, container, cus, case_id)
    csrf = token_of(client, f"/console/cases/{case_id}")
    data = {"service_id": svc["ftp_space"], "sessions": "1", "read_back": "true", "csrf": csrf}
    r = client.post(f"/console/cases/{case_id}/verbal-consent", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = client.post(f"/console/cases/{case_id}/resolve", data={"csrf": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    text = shown(client, f"/console/cases/{case_id}", "Support Agent")
    assert text.count("Support Agent") == 4  # opened, resolved, identification, grant
    page = client.get(f"/console/cases/{case_id}").text
    assert 'title="sam">Support Agent</span>' in page
    assert sam not in page


def test_the_disclosures_name_proposer_and_approver(
    client: TestClient, container: Container
) -> None:
    cus, csrf = legal_desk(client, container)
    did = proposed_disclosure(client, court_order(container, cus, csrf))
    approved_by(client, "lara", did)
    page = client.get("/console/disclosures").text
    row = page.split(f'id="disclosure-{did}"')[1].split("</tr>")[0]
    assert ">Legal Agent</span></td>" in row  # proposed by
    assert ">Lara Legal</span></td>" in row  # approved by
    shown(client, "/console/disclosures", "Legal Agent", "Lara Legal")


def test_policy_versions_name_their_author_and_a_former_member(
    client: TestClient, container: Container
) -> None:
    customers(container, 1)  # the terms amendment is mailed to somebody
    agent(client, container, "lena", "legal")
    csrf = token_of(client, "/console/policy")
    effective = container.clock().date()
    data = {"text": POLICY_TEXT, "effective": effective.isoformat(), "summary": "shorter",
            "csrf": csrf}  # fmt: skip
    assert client.post("/console/policy", data=data, follow_redirects=False).status_code == 303
    gus = container.staff.add("gus", "Gus Gone", ["legal"], STAFF_PASSWORD)
    as_gus = Actor(ActorKind.STAFF, gus.id, frozenset({Role.LEGAL}))
    later = POLICY_TEXT + "\nOne more line.\n"
    container.policy_documents.publish(as_gus, later, effective + timedelta(days=1), "later")
    with container.engine.begin() as conn:  # his account no longer on file
        conn.execute(sa.text("DELETE FROM staff_role WHERE staff_id = :i"), {"i": gus.id})
        conn.execute(sa.text("DELETE FROM staff WHERE id = :i"), {"i": gus.id})
    text = shown(client, "/console/policy", "Legal Agent", FORMER)
    assert text.split("later", 1)[1].startswith(f" {FORMER} ")
    assert "Gus Gone" not in text
    page = client.get("/console/policy").text
    assert f'title="{gus.id}">{FORMER}</span>' in page  # the id only where a pointer shows it


def test_a_mailing_names_its_composer(client: TestClient, container: Container) -> None:
    customers(container, 1)
    agent(client, container, "cora", "communications")
    csrf = token_of(client, "/console/mailings")
    data = {"purpose": "terms_amendment", "subject": "Our terms change",
            "body": "We amended our terms; the text is at /privacy.", "csrf": csrf}  # fmt: skip
    r = client.post("/console/mailings", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    shown(client, r.headers["location"], "by Communications Agent")


def test_names_of_members_former_members_and_other_actors(container: Container) -> None:
    member = container.staff.add("pia", "Pia Muster", ["support"], STAFF_PASSWORD)
    operator = "cli:root@host"
    names = staff_names(container, [member.id, GONE, operator, None, ""])
    assert set(names) == {member.id, GONE, operator}
    assert (names[member.id].kind, names[member.id].display) == ("staff", "Pia Muster")
    assert names[member.id].username == "pia"
    assert (names[GONE].kind, names[GONE].display) == ("former", FORMER)
    assert (names[operator].kind, names[operator].display) == ("other", operator)
    macro = environment("en").from_string(
        '{% from "console/staff_name.html" import staff_name %}'
        "{% for i in ids %}[{{ staff_name(names, i) }}]{% endfor %}"
    )
    out = macro.render(names=names, ids=[member.id, GONE, operator])
    assert out == (
        '[<span class="staff" title="pia">Pia Muster</span>]'
        f'[<span class="staff former" title="{GONE}">{FORMER}</span>]'
        f"[<code>{operator}</code>]"
    )
