"""Defaults an outside trial found out of step: the portal links point where `serve` listens
by default, and the API's token lifetime answers are documented as the code answers them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from entrusted.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_portal_links_point_at_the_default_serve_address() -> None:
    fields = Settings.model_fields
    portal = urlsplit(str(fields["portal_url"].default))
    bind = (fields["bind_host"].default, fields["bind_port"].default)
    assert (portal.hostname, portal.port) == bind


def test_a_too_long_token_lifetime_is_documented_as_422() -> None:
    text = (DOCS / "api.md").read_text()
    section = text.split("### `POST /v1/tokens`")[1].split("###")[0]
    assert "`422 invalid-input`" in section
    assert "`400`" not in section
