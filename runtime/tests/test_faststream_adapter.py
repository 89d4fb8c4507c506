"""What ``careers_runtime._faststream_adapter`` reads from FastStream's internals, pinned.

The adapter is the only code that reaches past FastStream's public API (the started
aiokafka producer). These tests hold what the delivery policy relies on, so that a
FastStream upgrade that moves the attribute fails here rather than silently falling back
to the slower publish path.
"""

import inspect
from importlib.metadata import version

import pytest
from aiokafka import AIOKafkaProducer
from careers_runtime._faststream_adapter import (
    BrokerStartHooks,
    aiokafka_security,
    started_producer,
)
from careers_runtime.broker import create_broker
from careers_runtime.settings import ServiceSettings
from faststream.asgi import AsgiFastStream
from faststream.kafka import TestKafkaBroker
from faststream.security import SASLScram512


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


async def test_broker_start_hooks_run_around_fastreams_private_broker_start() -> None:
    """``_start_broker`` is where FastStream's ASGI app starts the broker: our hooks run
    just before and just after it (the real start order, Kafka awaited while the probes
    answer, is ``test_kafka_startup.py``'s)."""
    assert inspect.iscoroutinefunction(getattr(AsgiFastStream, "_start_broker", None))
    broker = create_broker(ServiceSettings(service_name="adapter-test"))
    calls: list[str] = []

    async def before() -> None:
        calls.append("before")

    async def after() -> None:
        calls.append("after")

    async with TestKafkaBroker(broker):
        app = BrokerStartHooks(broker, before_broker=before, after_broker=after)
        await app._start_broker()
    assert calls == ["before", "after"]


def test_aiokafka_security_gives_the_client_arguments() -> None:
    assert aiokafka_security(None) == {}
    kwargs = aiokafka_security(SASLScram512(username="svc", password="pw", use_ssl=False))
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "svc"
