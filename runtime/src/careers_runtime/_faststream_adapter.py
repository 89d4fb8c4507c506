"""The one place we read FastStream's internals (``faststream==0.7.8``, pinned exactly).

FastStream's public API runs the worker app and publishes for us, but one thing we need
it does not expose:

- **The started aiokafka producer** (``started_producer``). ``delivery.enqueue`` hands
  records straight to it: FastStream's publish pipeline costs more CPU per record than
  the produce itself (the hot path, measured in ``make bench``). FastStream keeps it at
  ``broker.config.producer._producer.producer``, a private attribute.

Nothing else in the code base may reach into FastStream; a FastStream upgrade has to
pass ``runtime/tests/test_faststream_adapter.py``, which pins exactly what is read here.
(Consuming is ours, on aiokafka's public API: ``delivery.subscription``.)
"""

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker


def started_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer behind ``broker``; None before start, after stop or
    for FastStream's in-memory test broker (``publish`` then goes through FastStream)."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None) if state else None
    return producer if isinstance(producer, AIOKafkaProducer) else None
