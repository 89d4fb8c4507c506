"""What every local server that dev and tests start shares (embedded and Apache Kafka,
Redis, the Convex stand-in): ``with`` support over ``start()``/``stop()``, and stopping a
child process politely first."""

import signal
import subprocess
import threading
from types import TracebackType
from typing import Self


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
