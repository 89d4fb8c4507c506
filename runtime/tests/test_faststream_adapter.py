"""What ``careers_runtime._faststream_adapter`` reads from FastStream's internals, pinned.

The adapter is the only code that reaches past FastStream's public API (the started
aiokafka producer). These tests hold what the delivery policy relies on, so that a
FastStream upgrade that moves the attribute fails here rather than silently falling back
to the slower publish path.
"""

from importlib.metadata import version

import pytest
from aiokafka import AIOKafkaProducer
from careers_runtime._faststream_adapter import started_producer
from careers_runtime.broker import create_broker
from careers_runtime.settings import ServiceSettings
from faststream.kafka import TestKafkaBroker


def test_the_adapter_is_written_for_the_pinned_faststream() -> None:
    """Upgrading FastStream means re-checking the adapter (and then this pin)."""
    assert version("faststream") == "0.7.8"


def test_nothing_before_start() -> None:
    broker = create_broker(ServiceSettings(service_name="adapter-test"))
    assert started_producer(broker) is None


async def test_in_memory_test_broker_has_no_aiokafka_producer() -> None:
    """Under FastStream's TestKafkaBroker, ``publish`` must go through FastStream."""
    broker = create_broker(ServiceSettings(service_name="adapter-test"))
    async with TestKafkaBroker(broker) as test_broker:
        assert started_producer(test_broker) is None


@pytest.mark.broker
async def test_started_broker_exposes_its_aiokafka_producer(kafka_bootstrap: str) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="adapter-test")
    broker = create_broker(settings)
    await broker.start()
    try:
        assert isinstance(started_producer(broker), AIOKafkaProducer)
    finally:
        await broker.stop()
    assert started_producer(broker) is None
