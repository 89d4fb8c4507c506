"""What ``careers_runtime._faststream_adapter`` reads from FastStream's internals, pinned.

The adapter is the only code that reaches past FastStream's public API (the started
aiokafka producer, a subscriber's aiokafka consumer). These tests hold the behaviour the
delivery policy, ``/readyz``, lag and the orchestrator's ownership rely on, so that a
FastStream upgrade that moves either attribute fails here rather than silently falling
back to the slower publish path or reporting no partitions.
"""

from importlib.metadata import version

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from careers_contracts import ProfileSubmitted, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from careers_runtime._faststream_adapter import started_producer, subscriber_consumer
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing
from careers_runtime.delivery import consume
from careers_runtime.settings import ServiceSettings
from careers_runtime.topics_admin import ensure_topics
from faststream.kafka import TestKafkaBroker

TOPIC = Topic(
    name="careers.test-faststream-adapter.v1",
    payload=ProfileSubmitted,
    description="adapter test",
    producers=("test",),
    consumers=("test",),
    partitions=1,
)


async def _noop(event: Incoming[ProfileSubmitted]) -> list[Outgoing]:
    return []


def test_the_adapter_is_written_for_the_pinned_faststream() -> None:
    """Upgrading FastStream means re-checking the adapter (and then this pin)."""
    assert version("faststream") == "0.7.8"


def test_nothing_before_start() -> None:
    settings = ServiceSettings(service_name="adapter-test")
    broker = create_broker(settings)
    consumer = consume(broker, settings, group="adapter-test", routes={TOPIC: _noop})
    assert started_producer(broker) is None
    assert [subscriber_consumer(s) for s in consumer.subscribers] == [None, None]
    assert consumer.assignment() == set()


async def test_in_memory_test_broker_has_no_aiokafka_clients() -> None:
    """Under FastStream's TestKafkaBroker, ``publish`` must go through FastStream."""
    settings = ServiceSettings(service_name="adapter-test")
    broker = create_broker(settings)
    consumer = consume(broker, settings, group="adapter-test", routes={TOPIC: _noop})
    async with TestKafkaBroker(broker) as test_broker:
        assert started_producer(test_broker) is None
        assert consumer.assignment() == set()


@pytest.mark.broker
async def test_started_broker_exposes_its_aiokafka_producer_and_consumers(
    kafka_bootstrap: str, unique: str
) -> None:
    group = f"adapter-{unique}"
    await ensure_topics(kafka_bootstrap, [TOPIC, retry_topic(group), dead_letter_topic(group)])
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        service_name="adapter-test",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
    )
    broker = create_broker(settings)
    consumer = consume(broker, settings, group=group, routes={TOPIC: _noop})
    await broker.start()
    try:
        assert isinstance(started_producer(broker), AIOKafkaProducer)
        clients = [subscriber_consumer(s) for s in consumer.subscribers]
        assert all(isinstance(c, AIOKafkaConsumer) for c in clients)
        main = clients[0]
        assert main is not None
        assert main.subscription() == {TOPIC.name}
        assert consumer.assignment() == set(main.assignment())
    finally:
        await broker.stop()
    assert started_producer(broker) is None
    assert [subscriber_consumer(s) for s in consumer.subscribers] == [None, None]
