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
