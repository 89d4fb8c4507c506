"""What every local server that dev and tests start shares (embedded and Apache Kafka,
Redis, the Convex stand-in, the services): a free loopback port to listen on, ``with``
support over ``start()``/``stop()``, and stopping a child process politely first."""

import random
import signal
import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port for a child process to bind later.

    Chosen below the kernel's ephemeral range: a port from ``bind(0)`` can be taken by any
    outgoing connection or other ``bind(0)`` before the child (which may take seconds to
    start) binds it; a port outside that range can only collide with another explicit pick,
    and this process never hands the same one out twice.
    """
    low = 20_000
    high = min(_ephemeral_range()[0], 65_536) - 1
    for _ in range(500):
        port = random.randint(low, high) if high > low else 0
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen = int(sock.getsockname()[1])
        _handed_out.add(chosen)
        return chosen
    raise OSError("no free loopback port")


def terminate(process: "subprocess.Popen[bytes] | None", timeout_s: float = 5.0) -> int | None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL; the exit code (None: never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: how a launcher's ``main`` knows to stop."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


class LocalServer:
    """``with Server(...) as server:`` starts it and always stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:  # some return the exit code
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
