"""Run services as real subprocesses in tests, with their output captured to a file."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from careers_contracts import TOPICS, ProfileSubmission, ProfileSubmitted

from careers_runtime.codec import Outgoing
from careers_runtime.local_servers import LocalServer


class ServiceProcess(LocalServer):
    """``python -m <module>`` in its own process group, with env overrides."""

    def __init__(
        self, module: str, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ()
    ) -> None:
        self.module = module
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_http(self, url: str, timeout_s: float = 60, status: int = 200) -> None:
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.module} exited ({self.process.returncode}):\n{self.tail()}"
                )
            try:
                response = httpx.get(url, timeout=1)
                if response.status_code == status:
                    return
                last = response.status_code
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"{url} not {status} after {timeout_s}s (last: {last}):\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout_s: float = 25) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()


def echo_worker(
    bootstrap: str, group: str, out: Path, log_path: Path, **env: str
) -> tuple[ServiceProcess, int]:
    """A started ``careers_runtime.testing.echo_worker`` in consumer group ``group``,
    appending what it handles to ``out``: (process, its HTTP port)."""
    from careers_runtime.embedded_broker import free_port

    port = free_port()
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ECHO_GROUP": group,
        "ECHO_OUT": str(out),
        "HTTP_PORT": str(port),
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    }
    process = ServiceProcess("careers_runtime.testing.echo_worker", base | env, log_path)
    return process.start(), port


def profile_submitted(job_id: str, summary: str = "A test profile") -> Outgoing:
    """A ``profile.submitted`` event for ``job_id`` with a deterministic event id."""
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="user_test",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary=summary),
    )
    return Outgoing(
        TOPICS.profile_submitted, payload, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, job_id))
    )


def echo_handled(out: Path, prefix: str) -> list[dict[str, Any]]:
    """What echo workers wrote to ``out`` for jobs whose id starts with ``prefix``."""
    if not out.exists():
        return []
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["jobId"].startswith(prefix)]
