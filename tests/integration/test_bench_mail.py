"""The mail benchmark runs end to end (quick sizes) and reports exactly the agreed figures."""

from __future__ import annotations

from typing import Any

from tests.integration.mail_world import dovecot, load_benchmark


def test_quick_run_reports_every_figure() -> None:
    result: dict[str, Any] = load_benchmark("mail").run(quick=True)
    assert {
        "messages",
        "folders",
        "monitor_ms",
        "scandir_floor_ms",
        "doveadm_cold_ms",
        "customer_login_ms",
        "staff_login_ms",
    } <= set(result)
    assert (result["messages"], result["folders"]) == (5_000, 20)
    assert result["monitor_ms"] > 0
    assert result["scandir_floor_ms"] > 0
    if dovecot.dovecot_binary() is not None:
        assert result["customer_login_ms"] > 0
        assert result["staff_login_ms"] > 0
