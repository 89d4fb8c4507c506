"""The job-status follower skips and counts poison records, never the rest of a batch
(on both topics it follows: job-status, and profile.submitted for a job's first status).

Before the hardening, one deeply nested record raised ``RecursionError`` out of the
follower's batch loop: the records fetched with it were dropped (nothing is committed,
the position had moved on), so a job's status behind it was never served.
"""

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from careers_contracts import TOPICS, JobStatusChanged, ProfileSubmission
from careers_contracts.topics import dead_letter_topic
from careers_runtime.codec import Outgoing, encode
from careers_runtime.topics_admin import ensure_topics
from careers_tools.testing.poison import inject, malformed_shapes, poison_records, produce_raw
from ingest.domain.jobs import JobStatusStore
from ingest.domain.submission import build_submission
from ingest.job_status import STATUS_EVENTS, JobStatusFollower, LiveJobs
from ingest.settings import IngestSettings

pytestmark = pytest.mark.broker


async def test_poison_on_the_job_status_topic_is_skipped_and_counted(kafka_bootstrap: str) -> None:
    await ensure_topics(
        kafka_bootstrap,
        [TOPICS.job_status, TOPICS.profile_submitted, dead_letter_topic("unused")],
    )
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    submitted_job = f"job-{uuid.uuid4().hex[:8]}"
    # Every shape on both followed topics, keyed by the jobs so they share their
    # partitions and precede their records.
    poisons = [
        p
        for p in poison_records(TOPICS.job_status, "unused", job_id)
        if p.topic == TOPICS.job_status.name
    ]
    submitted_poisons = [
        p
        for p in poison_records(TOPICS.profile_submitted, "unused", submitted_job)
        # A record without a key is still a valid submit (the follower needs no key).
        if p.topic == TOPICS.profile_submitted.name and p.name != "no-key"
    ]
    submitted_poisons = [
        type(p)(p.name, p.topic, submitted_job.encode(), p.value, p.headers, p.reason)
        for p in submitted_poisons
    ]
    poisons = [
        type(p)(p.name, p.topic, job_id.encode(), p.value, p.headers, p.reason) for p in poisons
    ]
    await inject(kafka_bootstrap, poisons + submitted_poisons)
    event = JobStatusChanged(
        job_id=job_id,
        user_id="user_1",
        status="queued",
        sequence=0,
        progress=0,
        step="queued",
        message="queued",
        at=datetime.now(UTC),
    )
    value, headers = encode(Outgoing(TOPICS.job_status, event, f"{job_id}-0"), "test")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    await producer.send_and_wait(
        TOPICS.job_status.name,
        value,
        key=job_id.encode(),
        headers=[(k, v.encode()) for k, v in headers.items()],
    )
    # A job submitted through another replica: its `queued` status comes from this record.
    submission = build_submission(
        job_id=submitted_job,
        user_id="user_2",
        profile=ProfileSubmission(summary="x"),
        idempotency_key=None,
        now=datetime.now(UTC),
    )
    value, headers = encode(
        Outgoing(TOPICS.profile_submitted, submission.submitted, submission.submitted_event_id),
        "test",
    )
    await producer.send_and_wait(
        TOPICS.profile_submitted.name,
        value,
        key=submitted_job.encode(),
        headers=[(k, v.encode()) for k, v in headers.items()],
    )
    await producer.stop()

    invalid_before = STATUS_EVENTS.labels("invalid")._value.get()
    jobs = LiveJobs(JobStatusStore())
    follower = JobStatusFollower(
        IngestSettings(kafka_bootstrap_servers=kafka_bootstrap, job_status_fetch_wait_ms=50), jobs
    )
    await follower.start()
    try:
        deadline = time.monotonic() + 30
        while (
            jobs.get(job_id) is None or jobs.get(submitted_job) is None
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await follower.stop()
    assert jobs.get(job_id) is not None, "the status behind the poison was lost"
    derived = jobs.get(submitted_job)
    assert derived is not None, "the submit behind the poison was lost"
    assert derived.user_id == "user_2" and derived.latest == submission.queued
    assert follower.running is False
    invalid = STATUS_EVENTS.labels("invalid")._value.get() - invalid_before
    assert invalid >= len(poisons) + len(submitted_poisons)


async def test_unparseable_bytes_on_both_followed_topics_are_skipped(kafka_bootstrap: str) -> None:
    """Issue 25: a record aiokafka cannot parse (a header key that is not UTF-8, a corrupt
    batch) made the follower's fetch fail forever, so a new replica never turned ready and
    the records behind it were never served. Written on every partition of both followed
    topics (test copies of them: the session's other tests read the real ones with plain
    consumers), ahead of a job's status and another job's submit."""
    suffix = uuid.uuid4().hex[:8]
    status_topic = replace(TOPICS.job_status, name=f"careers.test-status-{suffix}.v1")
    submitted_topic = replace(TOPICS.profile_submitted, name=f"careers.test-submitted-{suffix}.v1")
    await ensure_topics(kafka_bootstrap, [status_topic, submitted_topic])
    job_id, submitted_job = f"job-{uuid.uuid4().hex[:8]}", f"job-{uuid.uuid4().hex[:8]}"
    for topic in (status_topic, submitted_topic):
        for partition in range(topic.partitions):
            for _name, batch, _reason in malformed_shapes(lambda job: b"{}", job_id):
                await produce_raw(kafka_bootstrap, topic.name, partition, batch)
    event = JobStatusChanged(
        job_id=job_id,
        user_id="user_1",
        status="queued",
        sequence=0,
        progress=0,
        step="queued",
        message="queued",
        at=datetime.now(UTC),
    )
    value, headers = encode(Outgoing(TOPICS.job_status, event, f"{job_id}-0"), "test")
    submission = build_submission(
        job_id=submitted_job,
        user_id="user_2",
        profile=ProfileSubmission(summary="x"),
        idempotency_key=None,
        now=datetime.now(UTC),
    )
    submitted_value, submitted_headers = encode(
        Outgoing(TOPICS.profile_submitted, submission.submitted, submission.submitted_event_id),
        "test",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            status_topic.name,
            value,
            key=job_id.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        await producer.send_and_wait(
            submitted_topic.name,
            submitted_value,
            key=submitted_job.encode(),
            headers=[(k, v.encode()) for k, v in submitted_headers.items()],
        )
    finally:
        await producer.stop()

    jobs = LiveJobs(JobStatusStore())
    follower = JobStatusFollower(
        IngestSettings(kafka_bootstrap_servers=kafka_bootstrap, job_status_fetch_wait_ms=50), jobs
    )
    follower.topic, follower.submitted.topic = status_topic, submitted_topic
    await follower.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            jobs.get(job_id) is not None
            and jobs.get(submitted_job) is not None
            and follower.caught_up
        ):
            await asyncio.sleep(0.1)
        assert jobs.get(job_id) is not None, "the status behind the bytes was lost"
        assert jobs.get(submitted_job) is not None, "the submit behind the bytes was lost"
        assert follower.caught_up, "the follower never caught up (the replica never ready)"
    finally:
        await follower.stop()
