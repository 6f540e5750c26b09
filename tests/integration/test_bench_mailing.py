"""The mailing benchmark runs end to end with a few hundred recipients and reports every agreed
figure, with every delivery recorded and received by the sink (no timing asserts: the figures
depend on the machine)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.mail_world import load_benchmark

pytestmark = pytest.mark.promise("P6", "P7")

FIGURES = {"recipients", "messages_per_s", "smtp_sink_floor_per_s", "vs_floor"}
FLOORS = {"fsync_commits_per_s", "hash_limit_per_s", "dict_lookup_floor_us", "load_average_1min"}


def test_a_small_run_reports_every_figure_with_every_delivery_recorded() -> None:
    result: dict[str, Any] = load_benchmark("mailing").run(recipients=300)
    assert set(result) >= FIGURES | FLOORS
    assert result["recipients"] == 300
    assert result["recorded"] == 300
    assert result["sink_received"] == 300
    for name in ("messages_per_s", "smtp_sink_floor_per_s", "vs_floor"):
        assert result[name] > 0, name
