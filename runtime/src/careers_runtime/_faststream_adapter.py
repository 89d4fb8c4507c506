"""The one place we read FastStream's internals (``faststream==0.7.8``, pinned exactly).

FastStream's public API runs the worker app and publishes for us, but three things we
need it does not expose:

- **The started aiokafka producer** (``started_producer``). ``delivery.enqueue`` hands
  records straight to it: FastStream's publish pipeline costs more CPU per record than
  the produce itself (the hot path, measured in ``make bench``). FastStream keeps it at
  ``broker.config.producer._producer.producer``, a private attribute.
- **A hook around the broker's start** (``BrokerStartHooks``). The ASGI app reports
  lifespan start-up complete (uvicorn then serves health and readiness) before it starts
  the broker, in its private ``_start_broker``: waiting for Kafka there, and starting our
  consumers right after, keeps the probes answering meanwhile.
- **aiokafka's connection arguments for a FastStream security object**
  (``aiokafka_security``): ``faststream.kafka.security.parse_security``, not exported by
  ``faststream.kafka``; our probe connection uses the same TLS/SASL as the clients.

Nothing else in the code base may reach into FastStream; a FastStream upgrade has to
pass ``runtime/tests/test_faststream_adapter.py``, which pins exactly what is read here.
(Consuming is ours, on aiokafka's public API: ``delivery.subscription``.)
"""

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity


def started_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer behind ``broker``; None before start, after stop or
    for FastStream's in-memory test broker (``publish`` then goes through FastStream)."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None) if state else None
    return producer if isinstance(producer, AIOKafkaProducer) else None


class BrokerStartHooks(AsgiFastStream):
    """``AsgiFastStream`` that awaits ``before_broker()`` before starting the broker and
    ``after_broker()`` once it has started (both inside FastStream's ``_start_broker``)."""

    def __init__(
        self,
        *args: Any,
        before_broker: Callable[[], Awaitable[None]],
        after_broker: Callable[[], Awaitable[None]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._before_broker = before_broker
        self._after_broker = after_broker

    async def _start_broker(self) -> None:
        await self._before_broker()
        await super()._start_broker()
        await self._after_broker()


def aiokafka_security(security: BaseSecurity | None) -> dict[str, Any]:
    """aiokafka client keyword arguments (``security_protocol``, SASL, ``ssl_context``)."""
    return parse_security(security)
