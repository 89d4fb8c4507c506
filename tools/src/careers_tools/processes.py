"""The one launcher for local processes: services, the echo worker, the dev Convex stand-in.

Each runs in its own process group (a signal reaches its children too), with env overrides
on top of ours, its output either appended to a log file (tests, chaos, benchmarks) or
echoed to our stdout behind a ``[name]`` prefix (``make dev``).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from careers_tools.local_servers import LocalServer


class ServiceProcess(LocalServer):
    """``python -m <module>`` (or ``command``, run in ``cwd``), with env overrides.

    ``log_path=None`` echoes the output to stdout behind ``[name]`` in ANSI ``color``.
    """

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        log_path: Path | None = None,
        args: tuple[str, ...] = (),
        *,
        command: Sequence[str] | None = None,
        cwd: Path | None = None,
        name: str | None = None,
        color: str | None = None,
    ) -> None:
        self.module = module
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.args = args
        self.command = list(command) if command else [sys.executable, "-m", module, *args]
        self.cwd = cwd
        self.name = name or module
        self.color = color
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServiceProcess":
        if self.log_path is None:
            output: int = subprocess.PIPE
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log_path is not None:
                os.close(output)  # the child holds its own copy
        if self.log_path is None:
            threading.Thread(target=self._echo, daemon=True).start()
        return self

    def _echo(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        prefix = (
            f"\033[{self.color}m[{self.name}]\033[0m "
            if self.color and sys.stdout.isatty()
            else f"[{self.name}] "
        )
        for line in iter(self.process.stdout.readline, b""):
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()

    def returncode(self) -> int | None:
        """The exit code once it has exited; None while it runs (or was never started)."""
        return None if self.process is None else self.process.poll()

    def wait_http(self, url: str, timeout_s: float = 60, status: int = 200) -> None:
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
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
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout_s: float = 25) -> int | None:
        self.signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float) -> int | None:
        """Wait for it to exit (after a SIGTERM), SIGKILL after ``timeout_s``; the exit code."""
        if self.process is None:
            return None
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"{self.name} did not stop in {timeout_s:.0f} s; killing", file=sys.stderr)
            self.signal(signal.SIGKILL)
            self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()


def stop_all(processes: Sequence[ServiceProcess], timeout_s: float = 30) -> None:
    """SIGTERM every process at once (each drains in parallel), then wait for each."""
    for process in processes:
        process.signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout_s)
