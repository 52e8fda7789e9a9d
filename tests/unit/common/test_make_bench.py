"""`make bench` runs every benchmark in benchmarks/ (each prints its figure next to its baseline)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_make_bench_runs_every_benchmark():
    plan = subprocess.run(["make", "-n", "bench"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    benchmarks = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "benchmarks").glob("*.py"))
    assert len(benchmarks) >= 5
    for bench in benchmarks:
        assert bench in plan, f"{bench} is not run by make bench"
