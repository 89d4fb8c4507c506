"""The one place we read FastStream's internals (``faststream==0.7.8``, pinned exactly).

FastStream's public API publishes and consumes for us, but two things we need it does
not expose:

- **The started aiokafka producer** (``started_producer``). ``delivery.enqueue`` hands
  records straight to it: FastStream's publish pipeline costs more CPU per record than
  the produce itself (the hot path, measured in ``make bench``). FastStream keeps it at
  ``broker.config.producer._producer.producer``, a private attribute.
- **A subscriber's aiokafka consumer** (``subscriber_consumer``), for its partition
  assignment (``/readyz``, the orchestrator's job ownership) and its positions and high
  watermarks (consumer lag). FastStream keeps it in ``subscriber.consumer``, set on start
  and cleared on stop; it is not part of the documented API.

Nothing else in the code base may reach into FastStream; a FastStream upgrade has to
pass ``runtime/tests/test_faststream_adapter.py``, which pins exactly what is read here.
"""

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker


def started_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer behind ``broker``; None before start, after stop or
    for FastStream's in-memory test broker (``publish`` then goes through FastStream)."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None) if state else None
    return producer if isinstance(producer, AIOKafkaProducer) else None


def subscriber_consumer(subscriber: Any) -> AIOKafkaConsumer | None:
    """The aiokafka consumer of a started FastStream Kafka subscriber; None before it
    started, after it stopped, or for a subscriber without one (the in-memory test broker)."""
    consumer: AIOKafkaConsumer | None = getattr(subscriber, "consumer", None)
    return consumer
