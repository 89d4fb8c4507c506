"""No record can stall a partition: every poison shape is dead-lettered, on the real broker.

Before the hardening, deep nesting (RecursionError), a 5,000-digit integer (ValueError)
and garbled retry headers escaped ``process_batch``; FastStream then rewound to the batch
start and re-delivered it forever, so the valid record behind them was never handled.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from careers_contracts import ProfileSubmission, ProfileSubmitted, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, PermanentError, encode
from careers_runtime.delivery import EventConsumer
from careers_runtime.dlq_cli import read_dead_letters
from careers_runtime.settings import ServiceSettings
from careers_runtime.topics_admin import ensure_topics
from careers_tools.testing.poison import inject, poison_records

pytestmark = pytest.mark.broker


def _topic() -> Topic:
    return Topic(
        name=f"careers.test-poison-{uuid.uuid4().hex[:8]}.v1",
        payload=ProfileSubmitted,
        description="poison test",
        producers=("test",),
        consumers=("test",),
        partitions=1,
    )


def _valid(topic: Topic, job_id: str, summary: str = "fine") -> bytes:
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="u",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary=summary),
    )
    value, _ = encode(Outgoing(topic, payload, f"{job_id}-evt"), "test")
    return value


async def test_every_poison_shape_is_dead_lettered_and_the_partition_moves_on(
    kafka_bootstrap: str,
) -> None:
    topic = _topic()
    group = f"poison-{uuid.uuid4().hex[:8]}"
    prefix = f"p{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka_bootstrap, [topic, retry_topic(group), dead_letter_topic(group)])
    poisons = poison_records(topic, group, prefix)
    handled: list[str] = []

    async def handler(event: Incoming[ProfileSubmitted]) -> list[Outgoing]:
        handled.append(event.job_id)
        if event.payload.profile.summary == "fails":
            raise PermanentError("refused")
        return []

    await inject(kafka_bootstrap, poisons)
    # Behind the poison on the same partitions: a valid record, and one whose permanent
    # failure makes the policy read the (garbled, forged) retry headers it carries.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    garbled = [
        ("x-original-partition", b"-"),
        ("x-original-offset", b"1" * 5000),
        ("x-retry-history", b"[" * 50_000),
        ("x-retry-attempt", b"nope"),
    ]
    await producer.send_and_wait(
        topic.name,
        _valid(topic, f"{prefix}-forged", "fails"),
        key=f"{prefix}-forged".encode(),
        headers=garbled,
    )
    await producer.send_and_wait(topic.name, _valid(topic, f"{prefix}-after"), key=b"x")
    await producer.send_and_wait(
        retry_topic(group).name,
        _valid(topic, f"{prefix}-retry-after"),
        key=b"y",
        headers=[
            ("x-original-topic", topic.name.encode()),
            ("x-original-partition", b"0"),
            ("x-original-offset", b"7"),
            ("x-retry-attempt", b"2"),
            ("x-retry-not-before-ms", b"0"),
            ("x-retry-history", b"[[[["),
        ],
    )
    await producer.stop()

    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        service_name="poison-test",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
        kafka_batch_timeout_ms=200,
        kafka_retry_poll_ms=200,
        retry_max_attempts=2,
    )
    broker = create_broker(settings)
    consumer = EventConsumer(broker, settings, group=group, routes={topic: handler})
    await broker.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not {
            f"{prefix}-after",
            f"{prefix}-retry-after",
        } <= set(handled):
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await broker.stop()
    assert f"{prefix}-after" in handled, "the main partition is stuck behind poison"
    assert f"{prefix}-retry-after" in handled, "the retry partition is stuck behind poison"
    assert f"{prefix}-no-key" not in handled

    letters = [s.letter for s in await read_dead_letters(kafka_bootstrap, group)]
    by_key = {letter.original_key: letter for letter in letters}
    for poison in poisons:
        name = f"{prefix}-{poison.name}" if poison.key is not None else None
        if name is None:  # the keyless record: find it by its reason
            letter = next(x for x in letters if x.original_key is None)
        else:
            assert name in by_key, f"{poison.name} was not dead-lettered"
            letter = by_key[name]
        assert poison.reason in letter.error_message, (poison.name, letter.error_message)
        assert letter.error_class == "validation"
        assert len(letter.model_dump_json()) < 1024 * 1024, "a dead letter fits a Kafka record"

    oversized = by_key[f"{prefix}-oversized"]
    assert "truncated" in oversized.error_message
    main = by_key[f"{prefix}-garbled-headers-main"]
    assert main.original_partition == 0 and main.original_offset >= 0  # its own, not forged
    forged = by_key[f"{prefix}-forged"]
    assert forged.error_class == "permanent"
    assert forged.original_offset < 1000 and len(forged.attempts) == 1  # headers ignored
    assert len(letters) == len(poisons) + 1
