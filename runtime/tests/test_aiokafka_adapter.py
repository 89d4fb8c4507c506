"""What ``careers_runtime._aiokafka_adapter`` reads from aiokafka's internals, pinned.

``careers-dlq`` asks a started consumer for the partitions of topics it never subscribed
to; the adapter refreshes the consumer's cached metadata so that a topic created after
the consumer started is found. An aiokafka upgrade that moves ``consumer._client`` or its
``force_metadata_update`` fails here instead of making ``careers-dlq`` see no partitions.
"""

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from careers_runtime._aiokafka_adapter import refresh_metadata
from careers_runtime.kafka_client import kafka_client_kwargs

pytestmark = pytest.mark.broker


async def test_refresh_finds_a_topic_created_after_the_consumer_started(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"careers.test-aiokafka-adapter-{unique}.v1"
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(kafka_bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        assert consumer.partitions_for_topic(topic) is None
        admin = AIOKafkaAdminClient(**kafka_client_kwargs(kafka_bootstrap))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        finally:
            await admin.close()
        # Apache Kafka's brokers learn of a new topic from the controller a moment later.
        deadline = time.monotonic() + 15
        while consumer.partitions_for_topic(topic) is None and time.monotonic() < deadline:
            await refresh_metadata(consumer)
            await asyncio.sleep(0.2)
        assert consumer.partitions_for_topic(topic) == {0, 1}
    finally:
        await consumer.stop()


async def test_fetch_raw_returns_a_partitions_record_set(kafka_bootstrap: str, unique: str) -> None:
    """The salvage path's own Fetch (``fetch_raw``) through a started consumer's client."""
    from aiokafka import AIOKafkaProducer, TopicPartition
    from careers_runtime._aiokafka_adapter import fetch_raw
    from careers_runtime.delivery.raw_records import RawRecord, read_batches

    topic = f"careers.test-fetch-raw-{unique}.v1"
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**kafka_client_kwargs(kafka_bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"value", key=b"key", headers=[("h", b"v")])
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(kafka_bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        await refresh_metadata(consumer)
        code, data = 0, b""
        deadline = time.monotonic() + 15
        while not data and time.monotonic() < deadline:
            code, data = await fetch_raw(consumer, TopicPartition(topic, 0), 0, 1024 * 1024)
        assert code == 0
        (record,) = read_batches(data, 0).items
        assert isinstance(record, RawRecord)
        assert (record.key, record.value, record.headers) == (b"key", b"value", ((b"h", b"v"),))
    finally:
        await consumer.stop()
