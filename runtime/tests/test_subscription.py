"""``delivery.subscription``: the fetch loop under the policy, against the real broker.

Commit after each batch (only once it returned), a failed batch rewound and fetched
again, a stop that lets the batch in hand finish and commit, or, past the grace period,
cuts it short uncommitted for the next member to re-read.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from careers_runtime.delivery.subscription import Subscription
from careers_runtime.settings import ServiceSettings

pytestmark = pytest.mark.broker

RECORDS = 12


async def _topic(bootstrap: str, unique: str) -> str:
    topic = f"careers.test-subscription-{unique}.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        acks = [await producer.send(topic, f"r{i}".encode(), key=b"k") for i in range(RECORDS)]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return topic


async def _no_unreadable(unreadable: Any) -> None:
    raise AssertionError(f"unexpected unreadable record: {unreadable.reason}")


def _subscription(bootstrap: str, topic: str, group: str, process: Any) -> Subscription:
    settings = ServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        service_name="subscription-test",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
        kafka_max_batch_records=5,
    )
    return Subscription(
        settings,
        topics=[topic],
        group_id=group,
        process=process,
        on_unreadable=_no_unreadable,
        batch_timeout_ms=100,
        fetch_max_wait_ms=100,
    )


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        committed: int | None = await reader.committed(TopicPartition(topic, 0))
        return committed
    finally:
        await reader.stop()


async def _until(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_each_batch_is_committed_once_it_returned(kafka_bootstrap: str, unique: str) -> None:
    topic, group = await _topic(kafka_bootstrap, unique), f"sub-{unique}"
    seen: list[int] = []
    batches: list[int] = []

    async def process(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        batches.append(len(records))
        seen.extend(r.offset for r in records)

    subscription = _subscription(kafka_bootstrap, topic, group, process)
    assert subscription.assignment() == set()
    await subscription.start()
    try:
        assert isinstance(subscription.client, AIOKafkaConsumer)
        assert subscription.client.subscription() == {topic}
        await _until(lambda: len(seen) == RECORDS)
        assert subscription.assignment() == {TopicPartition(topic, 0)}
        assert max(batches) <= 5, "KAFKA_MAX_BATCH_RECORDS bounds a batch"
    finally:
        await subscription.stop(grace_s=5)
    assert subscription.client is None and subscription.assignment() == set()
    assert seen == list(range(RECORDS)), "each record once, in order"
    assert await _committed(kafka_bootstrap, group, topic) == RECORDS


async def test_a_failed_batch_is_rewound_and_fetched_again(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = await _topic(kafka_bootstrap, unique), f"sub-{unique}"
    seen: list[int] = []
    failures = 0

    async def process(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        nonlocal failures
        if records[0].offset == 0 and failures < 2:  # e.g. the broker refused an output
            failures += 1
            raise RuntimeError("output refused")
        seen.extend(r.offset for r in records)

    subscription = _subscription(kafka_bootstrap, topic, group, process)
    await subscription.start()
    try:
        await _until(lambda: len(seen) == RECORDS)
    finally:
        await subscription.stop(grace_s=5)
    assert failures == 2
    assert seen == list(range(RECORDS)), "nothing skipped past the failed batch, none twice"
    assert await _committed(kafka_bootstrap, group, topic) == RECORDS


async def test_stop_finishes_the_batch_in_hand_within_the_grace_period(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = await _topic(kafka_bootstrap, unique), f"sub-{unique}"
    started = asyncio.Event()
    finished: list[int] = []

    async def slow(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        started.set()
        await asyncio.sleep(1.0)
        finished.extend(r.offset for r in records)

    subscription = _subscription(kafka_bootstrap, topic, group, slow)
    await subscription.start()
    await asyncio.wait_for(started.wait(), 30)
    await subscription.stop(grace_s=10)
    assert finished, "the batch in hand finished"
    assert await _committed(kafka_bootstrap, group, topic) == max(finished) + 1


async def test_stop_past_the_grace_period_leaves_the_batch_uncommitted(
    kafka_bootstrap: str, unique: str
) -> None:
    topic, group = await _topic(kafka_bootstrap, unique), f"sub-{unique}"
    started = asyncio.Event()

    async def stuck(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        started.set()
        await asyncio.sleep(60)

    subscription = _subscription(kafka_bootstrap, topic, group, stuck)
    await subscription.start()
    await asyncio.wait_for(started.wait(), 30)
    begun = time.monotonic()
    await subscription.stop(grace_s=0.3)
    assert time.monotonic() - begun < 10, "the grace period bounds the stop"
    assert await _committed(kafka_bootstrap, group, topic) is None

    again: list[int] = []

    async def process(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        again.extend(r.offset for r in records)

    successor = _subscription(kafka_bootstrap, topic, group, process)
    await successor.start()
    try:
        await _until(lambda: len(again) == RECORDS)
    finally:
        await successor.stop(grace_s=5)
    assert again == list(range(RECORDS)), "the next member re-reads the cut-short batch"


async def test_a_refused_commit_does_not_stop_the_loop(kafka_bootstrap: str, unique: str) -> None:
    """A commit that fails (a rebalance, a lost connection) is logged; fetching goes on and
    the next batch's commit covers the offsets."""
    topic, group = await _topic(kafka_bootstrap, unique), f"sub-{unique}"
    seen: list[int] = []

    async def process(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        seen.extend(r.offset for r in records)

    subscription = _subscription(kafka_bootstrap, topic, group, process)
    await subscription.start()
    client = subscription.client
    assert client is not None
    commit = client.commit
    refused = 0

    async def flaky_commit(*args: Any, **kwargs: Any) -> None:
        nonlocal refused
        if refused == 0:
            refused += 1
            raise ConnectionResetError("connection lost")
        await commit(*args, **kwargs)

    client.commit = flaky_commit  # type: ignore[method-assign]
    try:
        await _until(lambda: len(seen) == RECORDS)
        await _until(lambda: refused == 1)
    finally:
        await subscription.stop(grace_s=5)
    assert seen == list(range(RECORDS))
    assert await _committed(kafka_bootstrap, group, topic) == RECORDS
