"""`make chaos-cluster` in the test suite, with a small N: on a 3-node Apache Kafka cluster
(RF 3, min.insync.replicas 2), the broker leading the most partitions is SIGKILLed and
restarted, then all three are rolled, while the pipeline runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


def test_broker_failover_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "careers_tools.chaos_cluster",
            "--profiles",
            "12",
            "--users",
            "3",
            "--workdir",
            str(tmp_path / "chaos-cluster"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = re.search(
        r"^submitted (\d+), completed (\d+), lost (\d+), duplicated (\d+)$",
        result.stdout,
        re.MULTILINE,
    )
    assert summary, (
        f"no summary line\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
    assert tuple(map(int, summary.groups())) == (12, 12, 0, 0), result.stderr[-5000:]
    assert "SIGKILL broker" in result.stdout and "rolling restart" in result.stdout
    assert result.returncode == 0, result.stderr[-5000:]
