"""Delivery policy for every consumer: validation, per-key ordering with bounded
concurrency, retries through a retry topic, dead letters, commit after produce.

A service registers a *handler*: an async function from one validated ``Incoming`` event
to the ``Outgoing`` events it causes. The handler never publishes or commits itself; this
module does, in this order for each batch the consumer fetches:

1. Records are grouped by key (job id). Keys run concurrently (at most ``max_in_flight``
   records at once); records of one key run one after another, in offset order. One slow
   job therefore does not hold up the other jobs in its partition.
2. A record that is not a valid event goes straight to the group's dead-letter topic with
   the reason (retrying cannot fix it).
3. A handler that raises ``PermanentError`` is dead-lettered; any other exception sends the
   record to the group's retry topic with its attempt count and a not-before time
   (exponential backoff with jitter), so the partition keeps flowing. After
   ``retry_max_attempts`` the record is dead-lettered as ``exhausted``, with its history.
4. The handler's outputs are produced and acknowledged by the broker; only then, after the
   whole batch, are the offsets committed. A crash in between re-delivers the batch, and
   the deterministic event ids make the re-produced events identical, so idempotent sinks
   see each result once.
"""

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from careers_contracts import DeadLetter, JobEvent, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from careers_runtime import metrics
from careers_runtime.codec import (
    EventValidationError,
    Incoming,
    Outgoing,
    PermanentError,
    decode,
    decode_headers,
    encode,
)
from careers_runtime.logging import job_id_var
from careers_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("careers.delivery")

Handler = Callable[[Incoming[Any]], Awaitable[Sequence[Outgoing]]]

# What FastStream's own publish adds to a bytes record (kept for consumers that read them).
HEADER_CONTENT_TYPE = "content-type"
HEADER_CORRELATION_ID = "correlation_id"

H_ATTEMPT = "x-retry-attempt"
H_NOT_BEFORE = "x-retry-not-before-ms"
H_ORIGINAL_TOPIC = "x-original-topic"
H_ORIGINAL_PARTITION = "x-original-partition"
H_ORIGINAL_OFFSET = "x-original-offset"
H_HISTORY = "x-retry-history"
RETRY_HEADERS = (
    H_ATTEMPT,
    H_NOT_BEFORE,
    H_ORIGINAL_TOPIC,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_OFFSET,
    H_HISTORY,
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float

    def backoff_s(self, attempt: int) -> float:
        """Delay before ``attempt`` (2, 3, ...): exponential, capped, with full jitter."""
        ceiling = min(self.max_s, self.base_s * 2 ** (attempt - 2))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The started aiokafka producer behind ``broker``; None before start, after stop or
    for FastStream's in-memory test broker (``publish`` then goes through FastStream)."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None) if state else None
    return producer if isinstance(producer, AIOKafkaProducer) else None


_produced: dict[str, Any] = {}


def _count_produced(topic: str) -> None:
    child = _produced.get(topic)
    if child is None:
        child = _produced[topic] = metrics.PRODUCED.labels(topic)
    child.inc()


def _on_ack(topic: str, span: trace.Span) -> Callable[["asyncio.Future[Any]"], None]:
    def done(ack: "asyncio.Future[Any]") -> None:
        if ack.cancelled():
            span.set_status(trace.Status(trace.StatusCode.ERROR, "cancelled"))
        elif (exc := ack.exception()) is not None:  # retrieved: never "never retrieved"
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        else:
            _count_produced(topic)
        span.end()

    return done


async def enqueue(broker: KafkaBroker, event: Outgoing, source: str) -> "asyncio.Future[Any]":
    """Hand one event to the producer; the returned future resolves on the broker's ack.

    Awaiting the future is ``publish``; not awaiting it is fire-and-forget (the record is
    still sent, acknowledged with ``acks=all`` and counted, its failure recorded on the
    span). The producer span runs from here until the ack and is current while the event
    is encoded, so the ``traceparent`` header makes the consumer's span its child: one
    job, one trace, across services.

    Records go straight to the aiokafka producer FastStream started (its publish pipeline
    costs more CPU than the produce itself). They carry the same headers FastStream would
    add (an empty ``content-type`` for bytes, ``correlation_id``, here the event id).
    """
    topic = event.topic.name
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
        producer = _producer(broker)
        if producer is None:
            ack: asyncio.Future[Any] = await broker.publish(
                value, topic=topic, key=event.key.encode(), headers=headers, no_confirm=True
            )
        else:
            headers[HEADER_CORRELATION_ID] = event.event_id
            ack = await producer.send(
                topic,
                value,
                key=event.key.encode(),
                headers=[
                    (HEADER_CONTENT_TYPE, b""),
                    *((k, v.encode()) for k, v in headers.items()),
                ],
            )
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        span.end()
        raise
    ack.add_done_callback(_on_ack(topic, span))
    return ack


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


class EventConsumer:
    """One consumer group's subscription to its topics (and the group's retry topic).

    ``routes`` maps each consumed topic to its handler. All of them share one Kafka
    consumer, so a job's events from different topics are handled in key order too.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        *,
        group: str,
        routes: dict[Topic, Handler],
        partition_assignment_strategy: Sequence[type[Any]] | None = None,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.group = group
        self.routes = {topic.name: (topic, handler) for topic, handler in routes.items()}
        self.retry_topic = retry_topic(group)
        self.dead_letter_topic = dead_letter_topic(group)
        self.policy = RetryPolicy(
            settings.retry_max_attempts, settings.retry_backoff_base_s, settings.retry_backoff_max_s
        )
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        # Optional assignor for the main subscription, e.g. aiokafka's RangePartitionAssignor
        # so that partition p of every consumed topic lands on the same member (a process
        # manager needs all of one job's events, whatever their topic, in one replica).
        self._assignors = tuple(partition_assignment_strategy or ())
        self.subscribers = [
            self._subscribe(list(self.routes), from_retry=False),
            self._subscribe([self.retry_topic.name], from_retry=True),
        ]

    # ------------------------------------------------------------------ wiring

    def _subscribe(self, topic_names: list[str], *, from_retry: bool) -> Any:
        extra: dict[str, Any] = {}
        if self._assignors and not from_retry:
            extra["partition_assignment_strategy"] = self._assignors
        batch_timeout_ms = self.settings.kafka_batch_timeout_ms
        fetch_max_wait_ms = self.settings.kafka_fetch_max_wait_ms
        if from_retry:
            # Retried records wait out a backoff anyway: poll the retry topic slowly.
            batch_timeout_ms = max(batch_timeout_ms, self.settings.kafka_retry_poll_ms)
            fetch_max_wait_ms = max(fetch_max_wait_ms, self.settings.kafka_retry_poll_ms)
        subscriber = self.broker.subscriber(
            *topic_names,
            # The retry topic has its own group: members of one group should subscribe to
            # the same topics, or assignment depends on the broker's assignor quirks.
            group_id=f"{self.group}-retry" if from_retry else self.group,
            batch=True,
            max_records=self.settings.kafka_max_batch_records,
            batch_timeout_ms=batch_timeout_ms,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            # Commit only after the batch's outputs are acknowledged; anything escaping
            # (e.g. the broker is unreachable while producing) rewinds for re-delivery.
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=f"{self.group}:{'+'.join(topic_names)}",
            description="; ".join(
                self.routes[t][0].description for t in topic_names if t in self.routes
            )
            or f"Retries of {self.group}",
            **extra,
        )

        async def on_batch(body: list[Any], message: KafkaMessage) -> None:
            records: tuple[ConsumerRecord[Any, Any], ...] = tuple(message.raw_message)  # type: ignore[arg-type]
            await self.process_batch(records, from_retry=from_retry)

        subscriber(on_batch)
        return subscriber

    # --------------------------------------------------------------- processing

    async def process_batch(
        self, records: Sequence[ConsumerRecord[Any, Any]], *, from_retry: bool
    ) -> None:
        by_key: dict[Any, list[ConsumerRecord[Any, Any]]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)

        async def run_key(key_records: list[ConsumerRecord[Any, Any]]) -> None:
            for record in key_records:
                async with self._slots:
                    await self.process_record(record, from_retry=from_retry)

        await asyncio.gather(*(run_key(group) for group in by_key.values()))

    async def process_record(self, record: ConsumerRecord[Any, Any], *, from_retry: bool) -> None:
        headers = decode_headers(record.headers)
        attempt = int(headers.get(H_ATTEMPT, "1")) if from_retry else 1
        if from_retry:
            await self._wait_until(int(headers.get(H_NOT_BEFORE, "0")))
        source_topic = headers.get(H_ORIGINAL_TOPIC, record.topic) if from_retry else record.topic
        metrics.CONSUMED.labels(source_topic, self.group).inc()

        parent = propagate.extract(headers)
        token = otel_context.attach(parent)
        started = time.perf_counter()
        metrics.IN_FLIGHT.labels(self.group).inc()
        try:
            with tracer.start_as_current_span(
                f"{source_topic} process",
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": source_topic,
                    "messaging.consumer.group.name": self.group,
                    "messaging.kafka.offset": record.offset,
                    "messaging.message.id": headers.get("ce_id", ""),
                    "careers.attempt": attempt,
                },
            ) as span:
                await self._handle(record, headers, attempt, source_topic, span)
        finally:
            metrics.IN_FLIGHT.labels(self.group).dec()
            metrics.HANDLER_SECONDS.labels(source_topic, self.group).observe(
                time.perf_counter() - started
            )
            otel_context.detach(token)

    async def _handle(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        attempt: int,
        source_topic: str,
        span: trace.Span,
    ) -> None:
        try:
            if source_topic not in self.routes:
                raise EventValidationError(f"{self.group} does not consume {source_topic}")
            topic, handler = self.routes[source_topic]
            envelope, payload = decode(record.value, topic)
        except EventValidationError as exc:
            log.warning(
                "invalid event dead-lettered",
                extra={"topic": source_topic, "offset": record.offset, "reason": str(exc)},
            )
            metrics.FAILED.labels(source_topic, self.group, exc.error_class).inc()
            await self._dead_letter(record, headers, exc, exc.error_class, attempt)
            return

        job_token = job_id_var.set(envelope.subject)
        span.set_attribute("careers.job_id", envelope.subject)
        try:
            incoming: Incoming[JobEvent] = Incoming(
                envelope=envelope,
                payload=payload,
                topic=source_topic,
                partition=int(headers.get(H_ORIGINAL_PARTITION, record.partition)),
                offset=int(headers.get(H_ORIGINAL_OFFSET, record.offset)),
                headers=headers,
                attempt=attempt,
            )
            try:
                outputs = await asyncio.wait_for(
                    handler(incoming), timeout=self.settings.handler_timeout_s
                )
            except PermanentError as exc:
                span.record_exception(exc)
                metrics.FAILED.labels(source_topic, self.group, exc.error_class).inc()
                log.warning("permanent failure, dead-lettered", extra={"error": str(exc)})
                await self._dead_letter(record, headers, exc, exc.error_class, attempt)
                return
            except Exception as exc:
                span.record_exception(exc)
                metrics.FAILED.labels(source_topic, self.group, "transient").inc()
                await self._retry_or_dead_letter(record, headers, exc, attempt)
                return
            await publish_all(self.broker, outputs, self.settings.service_name)
        finally:
            job_id_var.reset(job_token)

    async def _wait_until(self, not_before_ms: int) -> None:
        delay = not_before_ms / 1000 - time.time()
        if delay > 0:
            await asyncio.sleep(min(delay, self.policy.max_s))

    # ----------------------------------------------------------- retry and DLQ

    def _history(self, headers: dict[str, str], exc: BaseException, attempt: int) -> list[Any]:
        history: list[Any] = json.loads(headers.get(H_HISTORY, "[]"))
        history.append(
            {
                "attempt": attempt,
                "error": f"{type(exc).__name__}: {exc}"[:1000],
                "at": datetime.now(UTC).isoformat(),
            }
        )
        return history

    async def _retry_or_dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        exc: Exception,
        attempt: int,
    ) -> None:
        if attempt >= self.policy.max_attempts:
            log.error(
                "retries exhausted, dead-lettered",
                extra={"attempts": attempt, "error": f"{type(exc).__name__}: {exc}"[:500]},
            )
            await self._dead_letter(record, headers, exc, "exhausted", attempt)
            return
        next_attempt = attempt + 1
        delay = self.policy.backoff_s(next_attempt)
        retry_headers = {k: v for k, v in headers.items() if k not in RETRY_HEADERS}
        retry_headers.update(
            {
                H_ATTEMPT: str(next_attempt),
                H_NOT_BEFORE: str(int((time.time() + delay) * 1000)),
                H_ORIGINAL_TOPIC: headers.get(H_ORIGINAL_TOPIC, record.topic),
                H_ORIGINAL_PARTITION: headers.get(H_ORIGINAL_PARTITION, str(record.partition)),
                H_ORIGINAL_OFFSET: headers.get(H_ORIGINAL_OFFSET, str(record.offset)),
                H_HISTORY: json.dumps(self._history(headers, exc, attempt)),
            }
        )
        log.warning(
            "handler failed, will retry",
            extra={"attempt": attempt, "retry_in_s": round(delay, 2), "error": type(exc).__name__},
        )
        await self.broker.publish(
            record.value, topic=self.retry_topic.name, key=record.key, headers=retry_headers
        )
        metrics.RETRIED.labels(retry_headers[H_ORIGINAL_TOPIC], self.group).inc()

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        exc: BaseException,
        error_class: str,
        attempt: int,
    ) -> None:
        value: bytes = record.value or b""
        try:
            text, encoding = value.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(value).decode(), "base64"
        key = record.key.decode("utf-8", "replace") if record.key else None
        letter = DeadLetter(
            original_topic=headers.get(H_ORIGINAL_TOPIC, record.topic),
            original_partition=int(headers.get(H_ORIGINAL_PARTITION, record.partition)),
            original_offset=int(headers.get(H_ORIGINAL_OFFSET, record.offset)),
            original_key=key,
            original_value=text,
            value_encoding=encoding,  # type: ignore[arg-type]
            original_headers={k: v for k, v in headers.items() if k not in RETRY_HEADERS},
            consumer_group=self.group,
            error_type=type(exc).__name__,
            error_message=str(exc)[:4000],
            error_class=error_class,  # type: ignore[arg-type]
            attempts=self._history(headers, exc, attempt),
            job_id=key,
            failed_at=datetime.now(UTC),
        )
        await self.broker.publish(
            letter.model_dump_json(by_alias=True).encode(),
            topic=self.dead_letter_topic.name,
            key=record.key,
            headers={"ce_type": "careers.dead-letter", "x-error-class": error_class},
        )
        metrics.DEAD_LETTERED.labels(letter.original_topic, self.group, error_class).inc()


def consume(
    broker: KafkaBroker,
    settings: ServiceSettings,
    *,
    group: str,
    routes: dict[Topic, Handler],
    partition_assignment_strategy: Sequence[type[Any]] | None = None,
) -> EventConsumer:
    """Subscribe each topic's handler for ``group`` with the delivery policy above."""
    return EventConsumer(
        broker,
        settings,
        group=group,
        routes=routes,
        partition_assignment_strategy=partition_assignment_strategy,
    )
