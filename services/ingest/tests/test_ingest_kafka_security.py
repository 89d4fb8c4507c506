"""Ingest with Kafka credentials the cluster refuses: alive, unready, one clear log line."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from careers_tools.testing.fake_kafka import FakeKafka
from careers_tools.testing.ingest import Ingest

# Starts ingest processes (make test, not make test-fast).
pytestmark = pytest.mark.slow

PASSWORD = "ingest-kafka-password"


def test_wrong_password_leaves_ingest_alive_and_unready(
    ingest_factory: Callable[..., Ingest],
) -> None:
    expected = "Kafka authentication failed: check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD"
    with FakeKafka() as broker:
        api = ingest_factory(
            broker.bootstrap,
            ready_path="/healthz",  # served while Kafka refuses us
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
            KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
            KAFKA_SASL_USERNAME="ingest",
            KAFKA_SASL_PASSWORD=PASSWORD,
            LOG_LEVEL="INFO",
        )
        log_path = Path(api.process.log_path)
        deadline = time.monotonic() + 20
        while expected not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        ready = httpx.get(f"{api.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["brokerConnected"] is False
        time.sleep(4)  # several retries with backoff
        assert api.process.process is not None and api.process.process.poll() is None
        log = log_path.read_text()
        assert log.count(expected) == 1, log
        assert PASSWORD not in log
