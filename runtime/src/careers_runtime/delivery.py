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
import dataclasses
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiokafka import ConsumerRecord, TopicPartition
from careers_contracts import DeadLetter, JobEvent, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from careers_runtime import metrics
from careers_runtime._faststream_adapter import started_producer, subscriber_consumer
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
        producer = started_producer(broker)
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

    def assignment(self) -> set[TopicPartition]:
        """The partitions the main subscription (not the retry one) holds now; empty
        before the broker started."""
        client = subscriber_consumer(self.subscribers[0])
        return set(client.assignment()) if client is not None else set()

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
            parser=_parse_batch,
            decoder=_undecoded,
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
        if from_retry:
            parsed = _retry_origin(headers)
            if isinstance(parsed, str):  # garbled retry headers: nothing to retry from
                origin = _Origin(record.topic, record.partition, record.offset, 1, 0)
                metrics.CONSUMED.labels(record.topic, self.group).inc()
                await self._reject(record, headers, origin, EventValidationError(parsed))
                return
            origin = parsed
            await self._wait_until(origin.not_before_ms)
        else:
            origin = _Origin(record.topic, record.partition, record.offset, 1, 0)
        source_topic = origin.topic
        attempt = origin.attempt
        metrics.CONSUMED.labels(
            source_topic if source_topic in self.routes else _UNKNOWN_TOPIC, self.group
        ).inc()

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
                await self._handle(record, headers, origin, span)
        finally:
            metrics.IN_FLIGHT.labels(self.group).dec()
            metrics.HANDLER_SECONDS.labels(
                source_topic if source_topic in self.routes else _UNKNOWN_TOPIC, self.group
            ).observe(time.perf_counter() - started)
            otel_context.detach(token)

    async def _reject(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "_Origin",
        exc: EventValidationError,
    ) -> None:
        """A record that is not a valid event: straight to the dead-letter topic."""
        label = origin.topic if origin.topic in self.routes else _UNKNOWN_TOPIC
        log.warning(
            "invalid event dead-lettered",
            extra={"topic": label, "offset": record.offset, "reason": str(exc)[:500]},
        )
        metrics.FAILED.labels(label, self.group, exc.error_class).inc()
        await self._dead_letter(record, headers, origin, exc, exc.error_class)

    async def _handle(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "_Origin",
        span: trace.Span,
    ) -> None:
        source_topic = origin.topic
        try:
            if source_topic not in self.routes:
                raise EventValidationError(f"{self.group} does not consume {source_topic[:200]}")
            if record.key is None:
                raise EventValidationError("record has no key (event topics are keyed by job id)")
            topic, handler = self.routes[source_topic]
            envelope, payload = decode(record.value, topic)
        except EventValidationError as exc:
            await self._reject(record, headers, origin, exc)
            return
        except Exception as exc:  # pragma: no cover - decode raises only EventValidationError
            reason = EventValidationError(f"undecodable record: {type(exc).__name__}")
            await self._reject(record, headers, origin, reason)
            return

        job_token = job_id_var.set(envelope.subject)
        span.set_attribute("careers.job_id", envelope.subject)
        try:
            incoming: Incoming[JobEvent] = Incoming(
                envelope=envelope,
                payload=payload,
                topic=source_topic,
                partition=origin.partition,
                offset=origin.offset,
                headers=headers,
                attempt=origin.attempt,
            )
            try:
                outputs = await asyncio.wait_for(
                    handler(incoming), timeout=self.settings.handler_timeout_s
                )
            except PermanentError as exc:
                span.record_exception(exc)
                metrics.FAILED.labels(source_topic, self.group, exc.error_class).inc()
                log.warning("permanent failure, dead-lettered", extra={"error": str(exc)})
                await self._dead_letter(record, headers, origin, exc, exc.error_class)
                return
            except Exception as exc:
                span.record_exception(exc)
                metrics.FAILED.labels(source_topic, self.group, "transient").inc()
                await self._retry_or_dead_letter(record, headers, origin, exc)
                return
            await publish_all(self.broker, outputs, self.settings.service_name)
        finally:
            job_id_var.reset(job_token)

    async def _wait_until(self, not_before_ms: int) -> None:
        delay = not_before_ms / 1000 - time.time()
        if delay > 0:
            await asyncio.sleep(min(delay, self.policy.max_s))

    # ----------------------------------------------------------- retry and DLQ

    def _history(self, headers: dict[str, str], origin: "_Origin", exc: BaseException) -> list[Any]:
        history = _parse_history(headers.get(H_HISTORY)) if origin.retried else []
        history.append(
            {
                "attempt": origin.attempt,
                "error": f"{type(exc).__name__}: {exc}"[:1000],
                "at": datetime.now(UTC).isoformat(),
            }
        )
        return history

    async def _retry_or_dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "_Origin",
        exc: Exception,
    ) -> None:
        attempt = origin.attempt
        if attempt >= self.policy.max_attempts:
            log.error(
                "retries exhausted, dead-lettered",
                extra={"attempts": attempt, "error": f"{type(exc).__name__}: {exc}"[:500]},
            )
            await self._dead_letter(record, headers, origin, exc, "exhausted")
            return
        next_attempt = attempt + 1
        delay = self.policy.backoff_s(next_attempt)
        retry_headers = {k: v for k, v in headers.items() if k not in RETRY_HEADERS}
        retry_headers.update(
            {
                H_ATTEMPT: str(next_attempt),
                H_NOT_BEFORE: str(int((time.time() + delay) * 1000)),
                H_ORIGINAL_TOPIC: origin.topic,
                H_ORIGINAL_PARTITION: str(origin.partition),
                H_ORIGINAL_OFFSET: str(origin.offset),
                H_HISTORY: json.dumps(self._history(headers, origin, exc)),
            }
        )
        log.warning(
            "handler failed, will retry",
            extra={"attempt": attempt, "retry_in_s": round(delay, 2), "error": type(exc).__name__},
        )
        await self.broker.publish(
            record.value, topic=self.retry_topic.name, key=record.key, headers=retry_headers
        )
        metrics.RETRIED.labels(origin.topic, self.group).inc()

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "_Origin",
        exc: BaseException,
        error_class: str,
    ) -> None:
        value: bytes = record.value or b""
        note = ""
        if len(value) > DEAD_LETTER_VALUE_BYTES:  # a dead letter must fit a Kafka record
            note = f" [original value of {len(value)} bytes truncated]"
            value = value[:DEAD_LETTER_VALUE_BYTES]
        try:
            text, encoding = value.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(value).decode(), "base64"
        key = record.key.decode("utf-8", "replace")[:500] if record.key else None
        kept: dict[str, str] = {}
        budget = DEAD_LETTER_HEADERS_CHARS
        for k, v in headers.items():
            if k in RETRY_HEADERS:
                continue
            if (budget := budget - len(k) - len(v)) < 0:
                note += " [original headers truncated]"
                break
            kept[k] = v
        letter = DeadLetter(
            original_topic=origin.topic[:500],
            original_partition=origin.partition,
            original_offset=origin.offset,
            original_key=key,
            original_value=text,
            value_encoding=encoding,  # type: ignore[arg-type]
            original_headers=kept,
            consumer_group=self.group,
            error_type=type(exc).__name__,
            error_message=(str(exc)[:4000] + note),
            error_class=error_class,  # type: ignore[arg-type]
            attempts=self._history(headers, origin, exc),
            job_id=key,
            failed_at=datetime.now(UTC),
        )
        await self.broker.publish(
            letter.model_dump_json(by_alias=True).encode(),
            topic=self.dead_letter_topic.name,
            key=record.key,
            headers={"ce_type": "careers.dead-letter", "x-error-class": error_class},
        )
        label = origin.topic if origin.topic in self.routes else _UNKNOWN_TOPIC
        metrics.DEAD_LETTERED.labels(label, self.group, error_class).inc()


# A dead letter carries at most this much of the original value (base64 grows it by a
# third) and of its headers, so it always fits Kafka's default 1 MiB record limit.
DEAD_LETTER_VALUE_BYTES = 512 * 1024
DEAD_LETTER_HEADERS_CHARS = 64 * 1024
MAX_HISTORY_CHARS = 64 * 1024
# Metric label for a topic a record claims but this group does not consume (bounded labels).
_UNKNOWN_TOPIC = "<unknown>"


class _Origin(NamedTuple):
    """Where a record really came from: itself, or for a retried record its retry headers.

    (A NamedTuple: built once per record, it must cost next to nothing.)
    """

    topic: str
    partition: int
    offset: int
    attempt: int
    not_before_ms: int
    retried: bool = False


def _int_header(headers: dict[str, str], name: str, low: int, high: int) -> int | str:
    """A header as an int in [low, high], or the reason it is not one (never raises)."""
    text = headers.get(name)
    if text is None:
        return f"retried record without {name} header"
    text = text.strip()
    # Length first: int() of a long digit string is quadratic and refuses 4,300+ digits.
    if not 0 < len(text) <= 20 or not text.lstrip("-").isdigit() or not text.isascii():
        return f"garbled {name} header {text[:50]!r}"
    number = int(text)
    if not low <= number <= high:
        return f"{name} header {number} out of range"
    return number


_MAX_INT64 = 2**63 - 1


def _retry_origin(headers: dict[str, str]) -> "_Origin | str":
    """Parse a retry-topic record's headers; a string is why they are unusable."""
    topic = headers.get(H_ORIGINAL_TOPIC)
    if not topic:
        return f"retried record without {H_ORIGINAL_TOPIC} header"
    fields: list[int] = []
    for name, low, high in (
        (H_ORIGINAL_PARTITION, 0, 2**31 - 1),
        (H_ORIGINAL_OFFSET, 0, _MAX_INT64),
        (H_ATTEMPT, 1, 1_000_000),
        (H_NOT_BEFORE, 0, _MAX_INT64),
    ):
        value = _int_header(headers, name, low, high)
        if isinstance(value, str):
            return value
        fields.append(value)
    partition, offset, attempt, not_before = fields
    return _Origin(topic, partition, offset, attempt, not_before, retried=True)


def _parse_history(text: str | None) -> list[Any]:
    """The ``x-retry-history`` header's attempts; unreadable history is noted, never raised."""
    if not text:
        return []
    if len(text) > MAX_HISTORY_CHARS:
        return [{"error": f"x-retry-history header of {len(text)} chars dropped"}]
    try:
        history = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [{"error": f"unreadable x-retry-history header: {type(exc).__name__}"}]
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return [{"error": "x-retry-history header is not a list of attempts"}]
    return history[-100:]


async def _parse_batch(
    records: tuple[ConsumerRecord[Any, Any], ...], original: Callable[..., Awaitable[Any]]
) -> Any:
    """FastStream's batch parser, made unable to fail on a record's headers.

    It decodes every header value as strict UTF-8, so a null or non-UTF-8 header value
    would fail the whole batch before the policy sees it (and be re-delivered forever).
    Such headers are rewritten (null -> empty, invalid bytes replaced) and parsing retried;
    the common case costs nothing extra.
    """
    try:
        return await original(records)
    except (UnicodeDecodeError, AttributeError):
        return await original(tuple(_with_text_headers(r) for r in records))


def _with_text_headers(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    headers = [
        (str(k), (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers or ()
    ]
    return dataclasses.replace(record, headers=headers)


async def _undecoded(message: Any) -> Any:
    """The batch's raw values: the policy decodes records itself (FastStream's decoder
    would parse them again, and a JSON content-type header would make it parse poison)."""
    return message.body


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
