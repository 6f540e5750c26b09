"""The pages' foundation (issue 18, items 1, 2 and 5): sign-in to the portal and the console,
the session cookies' flags, CSRF tokens on every form (a form without one is refused and the
refusal ledgered), a strict CSP on every page, an HTML error page of the pages' own, the
portal refusing a staff session and the console a customer's, and sign-out ending the session
on the server. On SQLite and PostgreSQL."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient

from entrusted.bootstrap import Container
from entrusted.entrypoints.server import create_server_app
from tests.e2e.web_support import (
    CUSTOMER_PASSWORD,
    STAFF_PASSWORD,
    client,
    console_sign_in,
    form_token,
    ledgered,
    portal_sign_in,
    register_customer,
)

pytestmark = pytest.mark.promise("P2", "P14")

__all__ = ["client"]  # the fixture, imported to be found

ALICE = "alice.page@example.com"


def test_portal_sign_in_sets_a_strict_cookie_and_pages_carry_a_strict_csp(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, ALICE)
    anonymous = client.get("/portal/", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/portal/signin?next=/portal/")
    page = client.get("/portal/signin")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    token = form_token(page.text)
    r = client.post(
        "/portal/signin",
        data={"email": ALICE, "password": "a long customer passphrase", "csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "entrusted_portal=entc_" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/portal" in cookie
    home = client.get("/portal/")
    assert home.status_code == 200
    assert "<h1>Your account</h1>" in home.text


def test_a_wrong_password_answers_like_an_unknown_address(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, ALICE)
    answers = []
    for email, password in ((ALICE, "not the passphrase"), ("nobody@example.com", "x" * 12)):
        token = form_token(client.get("/portal/signin").text)
        r = client.post(
            "/portal/signin", data={"email": email, "password": password, "csrf": token}
        )
        answers.append((r.status_code, r.text.replace(email, "")))
    assert answers[0][0] == 401
    assert answers[0] == answers[1]


def test_a_form_without_its_token_is_refused_ledgered_and_changes_nothing(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, ALICE)
    before = container.ledger_store.stored_size()
    for token in (None, "0" * 64):
        data = {"email": ALICE, "password": "a long customer passphrase"}
        if token:
            data["csrf"] = token
        r = client.post("/portal/signin", data=data, follow_redirects=False)
        assert r.status_code == 403
        assert "web.form-forged" in r.text
        assert "entrusted_portal" not in r.headers.get("set-cookie", "")
    forged = [e for e in ledgered(container)[before:] if e.rule == "web.form-forged"]
    assert len(forged) == 2
    assert all(e.decision == "deny" and e.resource_id == "form:/portal/signin" for e in forged)


def test_the_portal_ignores_a_staff_session_and_the_console_a_customers(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, ALICE)
    container.staff.add("ana", "Ana Example", ["support"], STAFF_PASSWORD)
    console_sign_in(client, "ana")
    staff_secret = client.cookies.get("entrusted_console")
    assert staff_secret
    client.cookies.set("entrusted_portal", staff_secret, path="/portal")
    r = client.get("/portal/", follow_redirects=False)
    assert r.status_code == 303
    assert "/portal/signin" in r.headers["location"]
    client.cookies.clear()
    portal_sign_in(client, ALICE)
    customer_secret = client.cookies.get("entrusted_portal")
    client.cookies.clear()
    client.cookies.set("entrusted_console", str(customer_secret), path="/console")
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 303
    assert "/console/signin" in r.headers["location"]


def test_sign_out_ends_the_session_on_the_server(client: TestClient, container: Container) -> None:
    register_customer(client, container, ALICE)
    portal_sign_in(client, ALICE)
    secret = client.cookies.get("entrusted_portal")
    home = client.get("/portal/")
    r = client.post("/portal/signout", data={"csrf": form_token(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    # the old cookie, replayed, signs nobody in: the token is revoked, not just forgotten
    client.cookies.set("entrusted_portal", str(secret), path="/portal")
    assert client.get("/portal/", follow_redirects=False).status_code == 303
    api = client.get("/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401


def test_console_sign_in_and_its_error_pages_are_html(
    client: TestClient, container: Container
) -> None:
    container.staff.add("ana", "Ana Example", ["support"], STAFF_PASSWORD)
    console_sign_in(client, "ana")
    home = client.get("/console/")
    assert home.status_code == 200
    assert "support" in home.text
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in missing.headers["content-security-policy"]


def test_the_next_target_after_sign_in_stays_inside_the_portal(
    client: TestClient, container: Container
) -> None:
    register_customer(client, container, ALICE)
    for target in ("https://evil.example/", "//evil.example/portal/", "/console/", "/portal/x"):
        page = client.get("/portal/signin", params={"next": target})
        r = client.post(
            "/portal/signin",
            data={"email": ALICE, "password": "a long customer passphrase",
                  "csrf": form_token(page.text), "next": target},
            follow_redirects=False,
        )  # fmt: skip
        expected = "/portal/x" if target == "/portal/x" else "/portal/"
        assert r.headers["location"] == expected, target
        client.cookies.clear()


def test_static_files_and_the_language_switch(client: TestClient) -> None:
    assert client.get("/static/pages.js").status_code == 200
    assert client.get("/static/site.css").status_code == 200
    page = client.get("/portal/signin", params={"lang": "fr"})
    assert '<html lang="fr">' in page.text
    assert "entrusted_lang=fr" in page.headers["set-cookie"]


def test_a_signed_in_customer_arriving_from_a_mail_link_can_post_the_page(
    client: TestClient, container: Container
) -> None:
    """Review finding: the browser sends no SameSite=Strict cookie with a navigation from
    another site (a webmail's link), so that page's form is bound to a visitor cookie; the
    form posted from our own page carries the session too and must be accepted."""
    register_customer(client, container, ALICE)
    portal_sign_in(client, ALICE)
    session = str(client.cookies.get("entrusted_portal"))
    client.cookies.clear()  # the cross-site arrival: no cookie sent
    page = client.get("/portal/password-reset")
    client.cookies.set("entrusted_portal", session, path="/portal")
    before = container.ledger_store.stored_size()
    r = client.post("/portal/password-reset", data={"email": ALICE, "csrf": form_token(page.text)})
    assert r.status_code == 200, r.text
    forged = [e for e in ledgered(container)[before:] if e.rule == "web.form-forged"]
    assert forged == []


def test_a_forged_form_with_a_malformed_field_is_refused_as_forged_not_422(
    client: TestClient, container: Container
) -> None:
    before = container.ledger_store.stored_size()
    r = client.post("/portal/signin", data={"csrf": "f" * 300})
    assert r.status_code == 403
    assert "web.form-forged" in r.text
    forged = [e for e in ledgered(container)[before:] if e.rule == "web.form-forged"]
    assert len(forged) == 1


def set_cookies(headers: object) -> dict[str, dict[str, str | bool]]:
    """Each `Set-Cookie` of an answer by name: its value and attributes (lower-cased)."""
    found: dict[str, dict[str, str | bool]] = {}
    for header in headers.get_list("set-cookie"):  # type: ignore[attr-defined]  # the TestClient's httpx2 Headers, typed `object` here
        for name, morsel in SimpleCookie(header).items():
            found[name] = {"value": morsel.value, **{k: v for k, v in morsel.items() if v}}
    return found


def test_behind_tls_the_cookies_are_host_prefixed_and_plain_names_are_not_read(
    container: Container,
) -> None:
    """Review finding: a sibling subdomain can set a cookie for the parent domain, so a plain
    visitor cookie it planted bound the sign-in form to a token it knew (login CSRF). Behind
    TLS the session and visitor cookies are `__Host-` (Secure, Path=/, no Domain: a browser
    keeps them only from this host), and the plain names sign nobody in and bind no form."""
    app = create_server_app(container=container)
    with TestClient(app) as plain, TestClient(app, base_url="https://testserver") as tls:
        register_customer(plain, container, ALICE)
        # the attacker's own visitor cookie and the sign-in token bound to it, over plain HTTP
        planted = plain.get("/portal/signin")
        visitor = set_cookies(planted.headers)["entrusted_visitor"]
        assert visitor["path"] == "/portal"
        assert "secure" not in visitor
        planted_token = form_token(planted.text)

        page = tls.get("/portal/signin")
        visitor = set_cookies(page.headers)["__Host-entrusted_visitor_portal"]
        assert (visitor["path"], visitor["secure"], visitor["httponly"]) == ("/", True, True)
        assert "domain" not in visitor
        r = tls.post(
            "/portal/signin",
            data={"email": ALICE, "password": CUSTOMER_PASSWORD, "csrf": form_token(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        cookies = set_cookies(r.headers)
        session = cookies["__Host-entrusted_portal"]
        assert str(session["value"]).startswith("entc_")
        assert (session["path"], session["secure"], session["samesite"]) == ("/", True, "strict")
        assert "domain" not in session
        assert "entrusted_portal" not in cookies
        gone = cookies["__Host-entrusted_visitor_portal"]  # the visitor's forms are done
        assert (gone["value"], gone["max-age"], gone["path"], gone["secure"]) == (
            "",
            "0",
            "/",
            True,
        )
        assert tls.get("/portal/").status_code == 200
        secret = str(session["value"])

        # the same session under the plain name signs nobody in over TLS
        tls.cookies.clear()
        tls.cookies.set("entrusted_portal", secret, path="/portal")
        r = tls.get("/portal/", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/portal/signin")

        # a planted plain visitor cookie binds no form: the sign-in is refused as forged
        tls.cookies.clear()
        tls.cookies.set("entrusted_visitor", str(planted.cookies["entrusted_visitor"]),
                        path="/portal")  # fmt: skip
        before = container.ledger_store.stored_size()
        r = tls.post(
            "/portal/signin",
            data={"email": ALICE, "password": CUSTOMER_PASSWORD, "csrf": planted_token},
            follow_redirects=False,
        )
        assert r.status_code == 403, r.text
        assert "web.form-forged" in r.text
        assert not any("portal" in n and "visitor" not in n for n in set_cookies(r.headers))
        forged = [e for e in ledgered(container)[before:] if e.rule == "web.form-forged"]
        assert len(forged) == 1

        # the console's session too; signing out deletes the cookie with the same flags
        container.staff.add("ana", "Ana Example", ["support"], STAFF_PASSWORD)
        tls.cookies.clear()
        console_sign_in(tls, "ana")
        assert tls.cookies.get("__Host-entrusted_console")
        assert tls.cookies.get("entrusted_console") is None
        home = tls.get("/console/")
        assert home.status_code == 200
        r = tls.post("/console/signout", data={"csrf": form_token(home.text)},
                     follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        ended = set_cookies(r.headers)["__Host-entrusted_console"]
        assert (ended["max-age"], ended["path"], ended["secure"]) == ("0", "/", True)

    # over plain HTTP (loopback, development) the plain names stay, as the benchmarks read
    with TestClient(app) as plain:
        portal_sign_in(plain, ALICE)
        assert str(plain.cookies.get("entrusted_portal")).startswith("entc_")
