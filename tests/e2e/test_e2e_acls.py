"""Least privilege on Kafka (issue 25): the ACLs generated from the topic registry
(``careers_tools.acls``) on a 3-broker Apache Kafka cluster with ``StandardAuthorizer`` and
``allow.everyone.if.no.acl.found=false``, each service connecting as its own SCRAM user.

The whole pipeline must pass with exactly those ACLs; the internet-facing ingest's
principal must be refused writing ``careers.recommendations.ready.v1`` (a forged result
for another user's Convex data) — and the same write must succeed once the ACLs are
widened, so the refusal is the ACLs' doing and the test notices a wider list.
"""

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from careers_contracts import TOPICS
from careers_runtime.kafka_client import producer_kwargs
from careers_runtime.settings import KafkaSettings
from careers_tools.acls import ADMIN, SERVICES, Acl, apply_acls, registry_acls
from careers_tools.apache_kafka import ApacheKafka
from careers_tools.testing.polling import wait_until
from careers_tools.testing.stack import LocalStack

PROFILE = {
    "summary": "Nurse who wants to move into health informatics.",
    "skills": ["patient care", "electronic health records", "SQL"],
    "goals": "Work with clinical data and health information systems",
}

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    users = {name: secrets.token_urlsafe(18) for name in (*SERVICES, ADMIN)}
    with ApacheKafka(
        nodes=3,
        secure=True,
        authorizer=True,
        users=users,
        workdir=tmp_path_factory.mktemp("kafka"),
    ) as kafka:
        # Through the loopback PLAINTEXT listener, the cluster's own super user.
        asyncio.run(apply_acls(kafka.bootstrap, registry_acls()))
        yield kafka


def _settings(cluster: ApacheKafka, user: str) -> KafkaSettings:
    env = cluster.client_env(user)
    return KafkaSettings(
        **{k.lower(): v for k, v in env.items() if k.lower() in KafkaSettings.model_fields}
    )


async def _produce(settings: KafkaSettings, topic: str) -> None:
    producer = AIOKafkaProducer(**producer_kwargs(settings), request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"forged": true}', key=b"user_victim")
    finally:
        await producer.stop()


def test_the_pipeline_runs_with_one_least_privilege_principal_per_service(
    cluster: ApacheKafka, tmp_path: Path
) -> None:
    admin_env = cluster.client_env(ADMIN)
    with LocalStack(
        tmp_path / "stack",
        bootstrap=admin_env["KAFKA_BOOTSTRAP_SERVERS"],
        broker_env=admin_env,
        service_env={name: cluster.client_env(name) for name in SERVICES},
    ) as stack:
        jobs = {stack.submit(PROFILE, f"user_acl_{i}"): f"user_acl_{i}" for i in range(2)}
        assert wait_until(lambda: stack.landed(jobs), timeout_s=150, interval_s=0.5), stack.logs()
        for job, user in jobs.items():
            assert stack.job(job, user).json()["status"] == "completed"
        logs = "\n".join(p.log_path.read_text(errors="replace") for p in stack.processes.values())
    assert "TopicAuthorizationFailed" not in logs and "GroupAuthorizationFailed" not in logs
    assert not any(password in logs for password in cluster.users.values())


def test_ingest_is_refused_writing_recommendations_until_the_acls_are_widened(
    cluster: ApacheKafka,
) -> None:
    ingest = _settings(cluster, "ingest")
    target = TOPICS.recommendations.name
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(_produce(ingest, target))
    # ingest's own topic is fine with the same principal: the refusal is about the topic.
    asyncio.run(_produce(ingest, TOPICS.profile_submitted.name))
    # Widened (what one shared identity amounted to): the same write now goes through.
    widened = [Acl("ingest", "TOPIC", target, "WRITE")]
    asyncio.run(apply_acls(cluster.bootstrap, widened))
    deadline = time.monotonic() + 20
    while True:
        try:
            asyncio.run(_produce(ingest, target))
            break
        except TopicAuthorizationFailedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
