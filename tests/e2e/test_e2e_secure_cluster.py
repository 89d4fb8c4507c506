"""The whole pipeline over SASL_SSL on a 3-broker Apache Kafka cluster, as on MSK,
Confluent or Strimzi: SCRAM-SHA-512 users added at format time, a CA made at test time,
replication factor 3 with ``min.insync.replicas=2`` and idempotent producers.

Then the two ways a platform team gets it wrong, on the same cluster: a wrong password and
a CA that did not sign the brokers' certificates. Either leaves a worker alive and not
ready, with one log line naming the setting to check and never the secret.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from careers_tools.apache_kafka import ApacheKafka, make_test_pki
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.polling import wait_until
from careers_tools.testing.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

PROFILE = {
    "summary": "Nurse who wants to move into health informatics.",
    "skills": ["patient care", "electronic health records", "SQL"],
    "experience": [
        {
            "title": "Registered Nurse",
            "organization": "City Hospital",
            "startDate": "2016-03",
            "endDate": None,
            "description": "Cared for patients and led the ward's move to electronic records.",
        }
    ],
    "goals": "Work with clinical data and health information systems",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    with ApacheKafka(nodes=3, secure=True, workdir=tmp_path_factory.mktemp("kafka")) as kafka:
        yield kafka


def test_pipeline_runs_end_to_end_over_sasl_ssl(cluster: ApacheKafka, tmp_path: Path) -> None:
    env = cluster.client_env()
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    with LocalStack(
        tmp_path / "stack", bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"], broker_env=env
    ) as stack:
        jobs = {stack.submit(PROFILE, f"user_secure_{i}"): f"user_secure_{i}" for i in range(3)}
        assert wait_until(lambda: stack.landed(jobs), timeout_s=120, interval_s=0.5), stack.logs()
        recommendations = [
            d for d in stack.convex.documents("careerRecommendations") if d["jobId"] in jobs
        ]
        outputs = [d for d in stack.convex.documents("agentOutputs") if d["jobId"] in jobs]
        assert sorted(d["jobId"] for d in recommendations) == sorted(jobs)
        assert all(d["status"] == "completed" and d["recommendations"] for d in recommendations)
        assert len(outputs) == 2 * len(jobs)
        for job, user in jobs.items():
            view = stack.job(job, user).json()
            assert view["status"] == "completed" and len(view["recommendations"]) >= 5
        logs = "\n".join(p.log_path.read_text(errors="replace") for p in stack.processes.values())
    password = env["KAFKA_SASL_PASSWORD"]
    assert password not in logs, "a Kafka password reached a log"


def _refused_worker(env: dict[str, str], workdir: Path) -> tuple[ServiceProcess, int]:
    port = free_port()
    worker = ServiceProcess(
        "careers_tools.testing.echo_worker",
        {
            **env,
            "ECHO_GROUP": "refused",
            "ECHO_OUT": str(workdir / "out.jsonl"),
            "HTTP_PORT": str(port),
            "LOG_FORMAT": "text",
        },
        workdir / "worker.log",
    )
    return worker.start(), port


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("wrong-password", "check KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD"),
        ("untrusted-ca", "the broker's certificate is not trusted"),
    ],
)
def test_a_misconfigured_worker_is_alive_unready_and_says_which_setting(
    cluster: ApacheKafka, mistake: str, expected: str, tmp_path: Path
) -> None:
    env = cluster.client_env()
    if mistake == "wrong-password":
        env["KAFKA_SASL_PASSWORD"] = "not-the-password-" + "x" * 12
    else:
        env["KAFKA_SSL_CAFILE"] = str(make_test_pki(tmp_path / "other-ca").ca_file)
    worker, port = _refused_worker(env, tmp_path)
    try:
        worker.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
        assert wait_until(lambda: expected in worker.tail(), timeout_s=30), worker.tail()
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503 and expected in ready.json()["kafkaError"]
        time.sleep(4)  # several reconnect attempts with backoff
        assert worker.process is not None and worker.process.poll() is None, "no crash loop"
        log = worker.log_path.read_text(errors="replace")
        assert log.count(expected) == 1, log
        assert env["KAFKA_SASL_PASSWORD"] not in log
        assert cluster.users[next(iter(cluster.users))] not in log
    finally:
        worker.stop()
