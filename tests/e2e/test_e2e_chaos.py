"""`make chaos` in the test suite, with a small N: kills (ingest too), Convex faults, one poison record of each shape."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.broker]


def test_chaos_loses_nothing_and_duplicates_nothing(tmp_path: Path, kafka_kind: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "careers_tools.chaos",
            "--profiles",
            "8",
            "--users",
            "2",
            "--workdir",
            str(tmp_path / "chaos"),
            "--kafka",
            kafka_kind,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = re.search(
        r"^submitted (\d+), completed (\d+), lost (\d+), duplicated (\d+), dead-lettered (\d+)$",
        result.stdout,
        re.MULTILINE,
    )
    assert summary, (
        f"no summary line\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
    submitted, completed, lost, duplicated, dead = map(int, summary.groups())
    assert (submitted, completed, lost, duplicated, dead) == (8, 8, 0, 0, 9), result.stderr[-5000:]
    assert result.returncode == 0, result.stderr[-5000:]
