"""The FTP benchmark runs end to end with a small file against the real FTPS server and a
bare TLS copy, and reports exactly the agreed figures; the downloaded bytes are the file's
(SHA-256). No timing is asserted: the figures depend on the machine."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.mail_world import load_benchmark

pytestmark = pytest.mark.promise("P9")

FIGURES = {
    "download_mib_per_s",
    "bare_tls_copy_mib_per_s",
    "customer_login_first_ms",
    "customer_login_ms",
    "staff_login_first_ms",
    "staff_login_ms",
    "download_vs_bare_tls",
    "staff_vs_customer_login",
    "load_average_1m",
}


def test_small_run_reports_every_figure_and_the_bytes_match() -> None:
    result: dict[str, Any] = load_benchmark("ftp").run(quick=True, size_mib=2)
    floors = {"fsync_commits_per_s", "hash_limit_per_s", "dict_lookup_floor_us"}
    assert set(result) == {"size_mib", "sha256_matches", *FIGURES, *floors, "load_average_1min"}
    assert result["fsync_commits_per_s"]["sqlite"] > 0
    assert result["size_mib"] == 2
    assert result["sha256_matches"] is True
    for name in FIGURES:
        assert isinstance(result[name], float), name
        assert result[name] >= 0, name
    for name in FIGURES - {"load_average_1m"}:
        assert result[name] > 0, name
