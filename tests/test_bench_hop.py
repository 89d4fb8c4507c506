"""`make bench-hop` runs: a tiny N through our relay and the raw one, every record out once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_bench_hop_runs_with_a_few_records() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_hop.py"), "--n", "300"]
        + ["--variants", "ours", "raw", "--timeout", "90", "--kafka", "tansu"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rounds = [line for line in done.stdout.splitlines() if "round 1" in line]
    assert len(rounds) == 2 and all(" ok " in line for line in rounds), done.stdout
    assert "ours/raw" in done.stdout.splitlines()[-1]
