"""A worker Kafka refuses (wrong password, untrusted certificate) stays up and unready.

It serves /healthz, answers /readyz 503 with the reason, logs one line naming the setting
to check (never the password) and keeps retrying: no exit, so no crash loop.
"""

import time
from pathlib import Path

import httpx
import pytest
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.fake_kafka import FakeKafka

from .conftest import TestCA, server_tls

# Starts worker processes against refusing listeners (make test, not make test-fast).
pytestmark = pytest.mark.slow

PASSWORD = "s3cret-worker-password"


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        (True, "Kafka authentication failed: check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD"),
        (False, "the broker's certificate is not trusted"),
    ],
    ids=["wrong-password", "untrusted-certificate"],
)
def test_worker_is_alive_not_ready_and_says_why(
    trusted: bool, expected: str, test_ca: TestCA, other_ca: TestCA, tmp_path: Path
) -> None:
    server = (test_ca if trusted else other_ca).issue(tmp_path / "server", "127.0.0.1")
    port = free_port()
    with FakeKafka(server_tls(server)) as broker:
        worker = ServiceProcess(
            "careers_tools.testing.echo_worker",
            {
                "ECHO_GROUP": "secured",
                "ECHO_OUT": str(tmp_path / "out.jsonl"),
                "HTTP_PORT": str(port),
                "LOG_FORMAT": "text",
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": "svc",
                "KAFKA_SASL_PASSWORD": PASSWORD,
                "KAFKA_SSL_CAFILE": str(test_ca.certfile),
            },
            tmp_path / "worker.log",
        ).start()
        try:
            worker.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
            deadline = time.monotonic() + 20
            while expected not in worker.tail() and time.monotonic() < deadline:
                time.sleep(0.2)
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            assert ready.status_code == 503
            assert ready.json()["brokerConnected"] is False
            assert expected in ready.json()["kafkaError"]
            time.sleep(4)  # several retries (1 s, 2 s, ... backoff)
            assert worker.process is not None and worker.process.poll() is None, worker.tail()
            log = (tmp_path / "worker.log").read_text()
            assert log.count(expected) == 1, log
            assert PASSWORD not in log
        finally:
            worker.stop()
