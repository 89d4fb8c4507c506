"""Per-key ordering with bounded concurrency, through the real broker.

One slow job must not stall the other jobs of its partition, while each job's own events
are still handled one after another, in offset order.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import murmur2
from careers_contracts import ProfileSubmission, ProfileSubmitted, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing
from careers_runtime.delivery import EventConsumer, publish_all
from careers_runtime.settings import ServiceSettings
from careers_runtime.topics_admin import ensure_topics

pytestmark = pytest.mark.broker
# A topic of its own: a new group reads from the earliest record, and the session's
# shared topics hold other tests' records that would land in the same batches.
TOPIC = Topic(
    name=f"careers.test-ordering-{uuid.uuid4().hex[:8]}.v1",
    payload=ProfileSubmitted,
    description="ordering test",
    producers=("test",),
    consumers=("test",),
    partitions=2,
)


def _partition(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % TOPIC.partitions


def _same_partition_keys(count: int) -> list[str]:
    prefix = uuid.uuid4().hex[:6]
    candidates = (f"order-{prefix}-{i}" for i in range(10_000))
    first = next(candidates)
    keys = [first]
    for key in candidates:
        if _partition(key) == _partition(first):
            keys.append(key)
        if len(keys) == count:
            return keys
    raise AssertionError("not enough keys")


async def test_slow_job_does_not_stall_its_partition_and_keys_stay_ordered(
    kafka_bootstrap: str,
) -> None:
    group = f"order-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap, [TOPIC, retry_topic(group), dead_letter_topic(group)])
    slow, *fast = _same_partition_keys(4)
    finished: list[tuple[str, int, float]] = []
    started = time.monotonic()

    async def handler(event: Incoming[ProfileSubmitted]) -> list[Outgoing]:
        if not event.job_id.startswith("order-"):
            return []
        sequence = int(event.payload.profile.summary.split()[-1])
        if event.job_id == slow and sequence == 0:
            await asyncio.sleep(2.0)
        finished.append((event.job_id, sequence, time.monotonic() - started))
        return []

    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        service_name="order-test",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
        kafka_max_batch_records=50,
        kafka_batch_timeout_ms=300,
        max_in_flight=4,
    )
    broker = create_broker(settings)
    consumer = EventConsumer(broker, settings, group=group, routes={TOPIC: handler})
    events = [
        Outgoing(
            TOPIC,
            ProfileSubmitted(
                job_id=key,
                user_id="u",
                submitted_at=datetime.now(UTC),
                profile=ProfileSubmission(summary=f"event {n}"),
            ),
            event_id=f"{key}-{n}",
        )
        for n in range(3)
        for key in (slow, *fast)
    ]
    producer = create_broker(settings)
    await producer.start()
    await publish_all(producer, events, "test")  # one partition, interleaved keys
    await producer.stop()
    await broker.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while len(finished) < len(events) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
        await broker.stop()

    assert len(finished) == len(events)
    for key in (slow, *fast):
        assert [seq for job, seq, _ in finished if job == key] == [0, 1, 2], "per-key order"
    slow_first_done = next(t for job, seq, t in finished if job == slow and seq == 0)
    fast_done = [t for job, _, t in finished if job in fast]
    assert max(fast_done) < slow_first_done, "other jobs in the partition did not wait"


def test_retry_topic_is_polled_slowly() -> None:
    """The retry consumer waits at least KAFKA_RETRY_POLL_MS per poll; the main one not."""
    settings = ServiceSettings(
        service_name="poll-test",
        kafka_fetch_max_wait_ms=50,
        kafka_batch_timeout_ms=50,
        kafka_retry_poll_ms=500,
    )
    consumer = EventConsumer(
        create_broker(settings), settings, group="poll-test", routes={TOPIC: _noop}
    )
    main, retry = consumer.subscriptions
    assert main.batch_timeout_ms == 50
    assert retry.batch_timeout_ms == 500


async def _noop(event: Incoming[ProfileSubmitted]) -> list[Outgoing]:
    return []
