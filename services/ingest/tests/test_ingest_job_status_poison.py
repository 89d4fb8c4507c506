"""The job-status projector skips and counts poison records, never the rest of a batch.

Before the hardening, one deeply nested record raised ``RecursionError`` out of the
follower's batch loop: the records fetched with it were dropped, so a job's status behind
it was never served. The projector commits a batch only once it is written: a record it
cannot decode is skipped (counted, reason logged), the ones behind it are projected.
"""

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from careers_contracts import TOPICS, JobStatusChanged
from careers_contracts.topics import dead_letter_topic
from careers_runtime.codec import Outgoing, encode
from careers_runtime.redis_client import redis_from_url
from careers_runtime.topics_admin import ensure_topics
from careers_tools.testing.poison import inject, malformed_shapes, poison_records, produce_raw
from ingest.domain.jobs import JobSnapshot
from ingest.projector import STATUS_EVENTS, StatusProjector
from ingest.read_model import JobReadModel
from ingest.settings import IngestSettings

pytestmark = pytest.mark.broker


async def project_until_seen(
    bootstrap: str, redis_url: str, job_id: str, group: str, topic: str = TOPICS.job_status.name
) -> tuple[JobSnapshot | None, bool]:
    """Run a projector (group ``group``) on ``topic`` until ``job_id`` is in the read model
    (30 s at most); its snapshot, and whether the projector was still running then."""
    redis = redis_from_url(redis_url)
    jobs = JobReadModel(redis, 600)
    settings = IngestSettings(
        kafka_bootstrap_servers=bootstrap,
        job_status_fetch_wait_ms=50,
        ingest_job_status_group=group,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
    )
    projector = StatusProjector(settings, jobs, topic=topic)
    await projector.start()
    try:
        deadline = time.monotonic() + 30
        while await jobs.get(job_id) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        running = projector.running
    finally:
        await projector.stop()
    assert projector.running is False
    try:
        return await jobs.get(job_id), running
    finally:
        await redis.aclose()


async def produce_status(
    bootstrap: str, topic: str, job_id: str, sequence: int
) -> JobStatusChanged:
    """One valid status of ``job_id`` (owner ``user_1``), produced to ``topic``."""
    step = "queued" if sequence == 0 else "analyzing"
    event = JobStatusChanged(
        job_id=job_id,
        user_id="user_1",
        status=step,
        sequence=sequence,
        progress=30 * sequence,
        step=step,
        message=step,
        at=datetime.now(UTC),
    )
    value, headers = encode(Outgoing(TOPICS.job_status, event, f"{job_id}-{sequence}"), "test")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            value,
            key=job_id.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
    finally:
        await producer.stop()
    return event


async def test_poison_on_the_job_status_topic_is_skipped_and_counted(
    kafka_bootstrap: str, redis_url: str
) -> None:
    await ensure_topics(kafka_bootstrap, [TOPICS.job_status, dead_letter_topic("unused")])
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    # Every shape, keyed by the job so they share its partition and precede its record.
    poisons = [
        type(p)(p.name, p.topic, job_id.encode(), p.value, p.headers, p.reason)
        for p in poison_records(TOPICS.job_status, "unused", job_id)
        if p.topic == TOPICS.job_status.name
    ]
    await inject(kafka_bootstrap, poisons)
    event = await produce_status(kafka_bootstrap, TOPICS.job_status.name, job_id, 1)

    invalid_before = STATUS_EVENTS.labels("invalid")._value.get()
    snapshot, ran = await project_until_seen(
        kafka_bootstrap, redis_url, job_id, f"poison-{uuid.uuid4().hex[:8]}"
    )
    assert ran, "the projector's loop died on the poison"
    assert snapshot is not None, "the status behind the poison was lost"
    assert snapshot.user_id == "user_1" and snapshot.latest == event
    invalid = STATUS_EVENTS.labels("invalid")._value.get() - invalid_before
    assert invalid >= len(poisons) - 1  # every poison but the key-less valid one


async def test_unparseable_bytes_on_the_job_status_topic_are_skipped(
    kafka_bootstrap: str, redis_url: str
) -> None:
    """Issue 25: a record aiokafka cannot parse (a header key that is not UTF-8, a corrupt
    batch) made ingest's reader fail its fetch forever, and the records behind it were never
    served. Written on every partition of a copy of job-status (the session's other tests
    read the real topic with plain consumers), ahead of a job's status: the projector
    records and skips them, the status behind them lands, and the partitions move on."""
    suffix = uuid.uuid4().hex[:8]
    status_topic = replace(TOPICS.job_status, name=f"careers.test-status-{suffix}.v1")
    await ensure_topics(kafka_bootstrap, [status_topic])
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    for partition in range(status_topic.partitions):
        for _name, batch, _reason in malformed_shapes(lambda job: b"{}", job_id):
            await produce_raw(kafka_bootstrap, status_topic.name, partition, batch)
    event = await produce_status(kafka_bootstrap, status_topic.name, job_id, 0)

    unreadable_before = STATUS_EVENTS.labels("unreadable")._value.get()
    snapshot, ran = await project_until_seen(
        kafka_bootstrap, redis_url, job_id, f"unparseable-{suffix}", status_topic.name
    )
    assert ran, "the projector's loop died on the bytes"
    assert snapshot is not None, "the status behind the bytes was lost"
    assert snapshot.latest == event
    # Some shapes may be repaired by a broker on append (then valid, counted as invalid
    # JSON): at least one per partition was unparseable and recorded.
    assert STATUS_EVENTS.labels("unreadable")._value.get() - unreadable_before >= 1
