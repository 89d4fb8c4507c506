"""The one launcher: output to a log file (tests, chaos) or behind a prefix (make dev)."""

import sys
from pathlib import Path

import pytest
from careers_tools.processes import ServiceProcess, stop_all
from careers_tools.testing.polling import wait_until

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def test_output_goes_to_the_log_file_and_stop_reports_sigterm(tmp_path: Path) -> None:
    process = ServiceProcess("sleeper", {}, tmp_path / "sleeper.log", command=SLEEPER).start()
    assert wait_until(lambda: process.tail() == "up", timeout_s=20)
    assert process.returncode() is None
    assert process.stop(timeout_s=10) == -15
    assert process.returncode() == -15


def test_without_a_log_file_output_is_echoed_behind_the_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    processes = [
        ServiceProcess("a", {}, command=SLEEPER, name="first").start(),
        ServiceProcess("b", {}, command=SLEEPER, name="second").start(),
    ]
    seen: list[str] = []

    def echoed() -> bool:
        seen.append(capsys.readouterr().out)
        return {"[first] up", "[second] up"} <= set("".join(seen).splitlines())

    assert wait_until(echoed, timeout_s=20)
    stop_all(processes, timeout_s=10)
    assert [p.returncode() for p in processes] == [-15, -15]


def test_kraft_cluster_ids_never_start_with_a_dash() -> None:
    """``kafka-storage format --cluster-id -…`` would read the id as an option (1 in 64
    random ids start with ``-``); ids are 22 URL-safe base64 characters, as Kafka's."""
    import re

    from careers_tools.apache_kafka import random_cluster_id

    for _ in range(3000):
        cluster_id = random_cluster_id()
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", cluster_id), cluster_id
