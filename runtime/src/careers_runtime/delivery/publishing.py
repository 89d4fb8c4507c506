"""Publishing: events to the broker, acknowledged (``acks=all``), traced and counted.

The hot path of every service: ``enqueue`` for each output of each handled record (the
consumer awaits a batch's acknowledgements once, before it commits), ``enqueue`` and
``publish`` for ingest's submits. Records go straight to the aiokafka producer
FastStream started (``_faststream_adapter.started_producer``): FastStream's publish
pipeline costs more CPU than the produce itself.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from opentelemetry import trace

from careers_runtime import metrics
from careers_runtime._faststream_adapter import started_producer
from careers_runtime.codec import Outgoing, encode
from careers_runtime.telemetry import child_traceparent, traceparent_under

tracer = trace.get_tracer("careers.delivery")

# What FastStream's own publish adds (its AsyncAPI documents declare it as the messages'
# correlation id): the event id. Not its empty ``content-type`` for bytes, which FastStream
# reads as no content type (a FastStream consumer then parses the JSON value either way).
HEADER_CORRELATION_ID = "correlation_id"

_produced: dict[str, Any] = {}
_counters: dict[str, Callable[["asyncio.Future[Any]"], None]] = {}


def _count_produced(topic: str, count: int = 1) -> None:
    """``careers_messages_produced_total`` by ``count`` (the label's child looked up once)."""
    child = _produced.get(topic)
    if child is None:
        child = _produced[topic] = metrics.PRODUCED.labels(topic)
    child.inc(count)


def _on_ack(topic: str, span: trace.Span, counted: bool) -> Callable[["asyncio.Future[Any]"], None]:
    def done(ack: "asyncio.Future[Any]") -> None:
        if ack.cancelled():
            span.set_status(trace.Status(trace.StatusCode.ERROR, "cancelled"))
        elif (exc := ack.exception()) is not None:  # retrieved: never "never retrieved"
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        elif counted:
            _count_produced(topic)
        span.end()

    return done


async def enqueue(
    broker: KafkaBroker,
    event: Outgoing,
    source: str,
    *,
    producer: AIOKafkaProducer | None = None,
    parent: trace.SpanContext | None = None,
    counted: bool = True,
) -> "asyncio.Future[Any]":
    """Hand one event to the producer; the returned future resolves on the broker's ack.

    Awaiting the future is ``publish``; not awaiting it is fire-and-forget (the record is
    still sent, acknowledged with ``acks=all`` and counted, its failure recorded on the
    span). The producer span runs from here until the ack and is current while the event
    is encoded, so the ``traceparent`` header makes the consumer's span its child: one
    job, one trace, across services.

    Records go straight to the aiokafka producer FastStream started (its publish pipeline
    costs more CPU than the produce itself). Besides ``ce_id``, ``ce_type`` and the trace
    context they carry FastStream's ``correlation_id`` (the event id).

    The consumer passes what it knows per batch and record: ``producer`` (the started
    producer, looked up once per batch) and ``parent`` (the record's span when nothing
    records spans: its outputs' ``traceparent`` is made from it directly), and
    ``counted=False`` when it counts a batch's acknowledged records itself
    (``count_acknowledged``) rather than with a callback per record.
    """
    topic = event.topic.name
    trace_headers = traceparent_under(parent) if parent is not None else child_traceparent()
    if trace_headers is not None:  # nothing records spans: the header is all (``telemetry``)
        value, headers = encode(event, source, trace_headers)
        ack = await _send(broker, producer, topic, event, value, headers)
        if counted:
            ack.add_done_callback(_counter(topic))
        return ack
    span = tracer.start_span(
        f"{topic} publish",
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.message.id": event.event_id,
            "careers.job_id": event.key,
        },
    )
    try:
        with trace.use_span(span, end_on_exit=False):
            value, headers = encode(event, source)
        ack = await _send(broker, producer, topic, event, value, headers)
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        span.end()
        raise
    ack.add_done_callback(_on_ack(topic, span, counted))
    return ack


async def _send(
    broker: KafkaBroker,
    producer: AIOKafkaProducer | None,
    topic: str,
    event: Outgoing,
    value: bytes,
    headers: dict[str, str],
) -> "asyncio.Future[Any]":
    if producer is None:
        producer = started_producer(broker)
    if producer is None:
        # FastStream's own publish (its in-memory TestKafkaBroker): a real broker answers
        # with the ack's future, the test broker with the delivery already done.
        result = await broker.publish(
            value, topic=topic, key=event.key.encode(), headers=headers, no_confirm=True
        )
        if isinstance(result, asyncio.Future):
            return result
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(result)
        return done
    record_headers = [(name, text.encode()) for name, text in headers.items()]
    record_headers.append((HEADER_CORRELATION_ID, event.event_id.encode()))
    return await producer.send(topic, value, key=event.key.encode(), headers=record_headers)


def _counter(topic: str) -> Callable[["asyncio.Future[Any]"], None]:
    """Counts the record as produced once acknowledged (a failure: not counted, and its
    exception is retrieved: never "never retrieved")."""
    callback = _counters.get(topic)
    if callback is None:

        def callback(ack: "asyncio.Future[Any]") -> None:
            if not ack.cancelled() and ack.exception() is None:
                _count_produced(topic)

        _counters[topic] = callback
    return callback


def count_acknowledged(acks: "Sequence[asyncio.Future[Any]]", topics: Sequence[str]) -> None:
    """Count the acknowledged ones of ``acks`` (produced to ``topics``, in the same order)
    as produced, once per topic; every failure's exception is retrieved, now or when it
    resolves. For records enqueued with ``counted=False``, after awaiting them."""
    produced: dict[str, int] = {}
    for ack, topic in zip(acks, topics, strict=True):
        if not ack.done():
            ack.add_done_callback(_counter(topic))  # still pending after a batch failed
        elif not ack.cancelled() and ack.exception() is None:
            produced[topic] = produced.get(topic, 0) + 1
    for topic, count in produced.items():
        _count_produced(topic, count)


async def publish(broker: KafkaBroker, event: Outgoing, source: str) -> None:
    """Produce one event and wait for the broker's acknowledgement."""
    await (await enqueue(broker, event, source))


async def publish_all(broker: KafkaBroker, events: Sequence[Outgoing], source: str) -> None:
    """Produce events concurrently (one producer batch) and wait for every ack.

    They are handed to the producer in order, so events with one key (one partition)
    keep their order.
    """
    acks = [await enqueue(broker, event, source) for event in events]
    await asyncio.gather(*acks)
