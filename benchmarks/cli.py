"""CLI start-up: wall time of `entrusted --version` and `entrusted --help`, each a fresh
process, against the floor of this machine in the same run: `python -c pass` with the same
interpreter. Medians of repeated runs (the first run of each only warms the page cache), as
wall time and as CPU time, with the load average: on a shared machine wall time grows with the
load, CPU time much less.

Target: both under 300 ms on the development machine. Nothing expensive may run at import
(an argon2 hash, SQLAlchemy, FastAPI, Faker): see src/entrusted/entrypoints/cli/lazy.py."""

from __future__ import annotations

import json
import os
import resource
import runpy
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_floors = runpy.run_path(str(Path(__file__).with_name("_floors.py")))  # no package to import


def entrusted_command() -> list[str]:
    """The installed console script beside this interpreter (what an operator runs)."""
    beside = Path(sys.executable).with_name("entrusted")
    found = str(beside) if beside.is_file() else shutil.which("entrusted")
    if found is None:
        raise RuntimeError("the `entrusted` command is not installed (pip install -e .)")
    return [found]


def _medians_ms(argv: list[str], repeats: int) -> tuple[float, float]:
    """(wall, CPU) medians in ms. CPU time (user + system of the child) is what start-up costs
    when the machine is shared; wall time is what an operator waits."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    walls, cpus = [], []
    for i in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, check=False, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()[-500:]}")
        if i:  # the first run only warms the page cache
            walls.append(elapsed)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cpus.append(cpu * 1000)
    return round(statistics.median(walls), 1), round(statistics.median(cpus), 1)


def run(quick: bool = False) -> dict[str, Any]:
    repeats = 5 if quick else 21
    cli = entrusted_command()
    version = _medians_ms([*cli, "--version"], repeats)
    help_ = _medians_ms([*cli, "--help"], repeats)
    floor = _medians_ms([sys.executable, "-c", "pass"], repeats)
    return {
        **_floors["floors"](None, quick),
        "version_ms": version[0],
        "help_ms": help_[0],
        "python_floor_ms": floor[0],
        "cpu": {"version_ms": version[1], "help_ms": help_[1], "python_floor_ms": floor[1]},
        "load_average_1min": round(os.getloadavg()[0], 2),  # wall times mean little when high
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
