"""`entrusted bench cli --json` measures the start-up of `--version` and `--help` against the
bare interpreter in the same run (the figures, not a timed test: the target is in docs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENTRUSTED = Path(sys.executable).with_name("entrusted")


def test_bench_cli_reports_start_up_beside_the_python_floor() -> None:
    done = subprocess.run(
        [str(ENTRUSTED), "bench", "cli", "--json", "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    keys = ("version_ms", "help_ms", "python_floor_ms")
    floors = ("fsync_commits_per_s", "hash_limit_per_s", "dict_lookup_floor_us")
    assert set(result) == {*keys, *floors, "cpu", "load_average_1min"}
    assert result["fsync_commits_per_s"]["sqlite"] > 0
    assert set(result["cpu"]) == set(keys)
    for figures in (result, result["cpu"]):
        assert all(isinstance(figures[k], float) and figures[k] > 0 for k in keys)
        assert figures["python_floor_ms"] < figures["version_ms"]  # the CLI does more
    cpu = result["cpu"]  # steadier than wall time on a shared machine
    assert cpu["version_ms"] < cpu["help_ms"] * 1.5  # --help renders what --version skips
