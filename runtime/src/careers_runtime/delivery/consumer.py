"""The consumer side of the delivery policy: ``EventConsumer`` runs a group's handlers.

For each fetched batch (``batching``): every record is validated, handled, and its
outputs published (``publishing``); a failure goes to the retry topic or the dead-letter
topic (``retries``). Commit after produce: the subscription (``subscription``) commits the
batch's offsets only when this returns, and anything escaping rewinds the batch for
re-delivery.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from careers_contracts import JobEvent, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from careers_runtime import metrics
from careers_runtime._faststream_adapter import started_producer
from careers_runtime.codec import (
    EventValidationError,
    Incoming,
    Outgoing,
    PermanentError,
    decode,
    decode_headers,
)
from careers_runtime.delivery.batching import run_in_key_order
from careers_runtime.delivery.publishing import count_acknowledged, enqueue, tracer
from careers_runtime.delivery.retries import (
    RecordOrigin,
    RetryPolicy,
    dead_letter,
    retry_headers,
    retry_origin,
)
from careers_runtime.delivery.salvage import UnreadableRecord
from careers_runtime.delivery.subscription import Subscription
from careers_runtime.logging import job_id_var
from careers_runtime.settings import ServiceSettings
from careers_runtime.telemetry import continue_trace

# The package's logger (one name for the whole policy, as before the split).
log = logging.getLogger("careers_runtime.delivery")

Handler = Callable[[Incoming[Any]], Awaitable[Sequence[Outgoing]]]
# Metric label for a topic a record claims but this group does not consume (bounded labels).
_UNKNOWN_TOPIC = "<unknown>"


class _Batch:
    """What the records of one batch leave for the batch's end: the acknowledgements of
    their outputs (awaited before commit); and the batch's records per topic label."""

    __slots__ = ("acks", "consumed", "producer", "topics")

    def __init__(self, producer: AIOKafkaProducer | None) -> None:
        self.acks: list[asyncio.Future[Any]] = []
        self.topics: list[str] = []  # each ack's topic (counted as produced once acked)
        self.consumed: dict[str, int] = {}
        self.producer = producer  # looked up once per batch (None: FastStream's test broker)


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
        # Metric children by label, looked up once (``labels()`` costs more than ``inc()``).
        # Records in handlers now: a plain count, read by the gauge when scraped (an
        # inc/dec of the gauge per record cost more than the count).
        self._running = 0
        metrics.IN_FLIGHT.labels(group).set_function(lambda: self._running)
        self._consumed: dict[str, Any] = {}
        self._latency: dict[str, Any] = {}
        # Optional assignor for the main subscription, e.g. aiokafka's RangePartitionAssignor
        # so that partition p of every consumed topic lands on the same member (a process
        # manager needs all of one job's events, whatever their topic, in one replica).
        self._assignors = tuple(partition_assignment_strategy or ())
        self.subscriptions = [
            self._subscribe(list(self.routes), from_retry=False),
            self._subscribe([self.retry_topic.name], from_retry=True),
        ]

    def assignment(self) -> set[TopicPartition]:
        """The partitions the main subscription (not the retry one) holds now; empty
        before ``start``."""
        return self.subscriptions[0].assignment()

    async def start(self) -> None:
        """Join the groups and start fetching (the broker, whose producer the outputs go
        to, is started first: ``create_worker_app`` does both in that order)."""
        for subscription in self.subscriptions:
            await subscription.start()

    async def stop(self) -> None:
        """Stop fetching, finish the batches in hand within ``shutdown_grace_s`` (they
        commit), leave the groups. Before the broker stops: outputs still need its producer."""
        await asyncio.gather(*(s.stop(self.settings.shutdown_grace_s) for s in self.subscriptions))

    # ------------------------------------------------------------------ wiring

    def _subscribe(self, topic_names: list[str], *, from_retry: bool) -> Subscription:
        batch_timeout_ms = self.settings.kafka_batch_timeout_ms
        fetch_max_wait_ms = self.settings.kafka_fetch_max_wait_ms
        if from_retry:
            # Retried records wait out a backoff anyway: poll the retry topic slowly.
            batch_timeout_ms = max(batch_timeout_ms, self.settings.kafka_retry_poll_ms)
            fetch_max_wait_ms = max(fetch_max_wait_ms, self.settings.kafka_retry_poll_ms)

        def on_batch(records: Sequence[ConsumerRecord[Any, Any]]) -> Awaitable[None]:
            return self.process_batch(records, from_retry=from_retry)

        return Subscription(
            self.settings,
            topics=topic_names,
            # The retry topic has its own group: members of one group should subscribe to
            # the same topics, or assignment depends on the broker's assignor quirks.
            group_id=f"{self.group}-retry" if from_retry else self.group,
            process=on_batch,
            on_unreadable=self.dead_letter_unreadable,
            batch_timeout_ms=batch_timeout_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            assignors=() if from_retry else self._assignors,
        )

    # --------------------------------------------------------------- processing

    async def process_batch(
        self, records: Sequence[ConsumerRecord[Any, Any]], *, from_retry: bool
    ) -> None:
        """Handle every record, then wait once for every output's acknowledgement: the
        outputs are enqueued as each record is handled (a key's in offset order), and the
        batch returns (the subscription then commits) only when the broker has them all."""
        batch = _Batch(started_producer(self.broker))
        if not from_retry:  # counted as taken in, once per batch and topic (a retried
            # record's topic is in its headers: counted as each is read, in ``_process``)
            for record in records:
                label = record.topic if record.topic in self.routes else _UNKNOWN_TOPIC
                batch.consumed[label] = batch.consumed.get(label, 0) + 1
            self._count_consumed(batch.consumed)

        def process(record: ConsumerRecord[Any, Any], *, from_retry: bool) -> Awaitable[None]:
            return self._process(record, from_retry, batch)

        await run_in_key_order(records, self._slots, process, from_retry=from_retry)
        if batch.acks:
            try:
                await asyncio.gather(*batch.acks)
            finally:
                count_acknowledged(batch.acks, batch.topics)

    async def process_record(self, record: ConsumerRecord[Any, Any], *, from_retry: bool) -> None:
        """One record, its outputs acknowledged (``process_batch`` for a batch of one)."""
        await self.process_batch((record,), from_retry=from_retry)

    async def dead_letter_unreadable(self, unreadable: UnreadableRecord) -> None:
        """A record whose bytes aiokafka cannot parse (``salvage``): to the dead-letter
        topic with what could be read of it and the reason; never handled, never retried
        (its own headers, retry headers included, are not trusted)."""
        record = unreadable.record
        origin = RecordOrigin(record.topic, record.partition, record.offset, 1, 0)
        label = record.topic if record.topic in self.routes else _UNKNOWN_TOPIC
        self._count_consumed({label: 1})
        headers = decode_headers(record.headers)
        await self._reject(record, headers, origin, EventValidationError(unreadable.reason))

    def _count_consumed(self, consumed: dict[str, int]) -> None:
        """``careers_messages_consumed_total``: once per batch and topic, with the count."""
        for label, count in consumed.items():
            child = self._consumed.get(label)
            if child is None:
                child = self._consumed[label] = metrics.CONSUMED.labels(label, self.group)
            child.inc(count)

    def _handler_seconds(self, label: str) -> Any:
        child = self._latency.get(label)
        if child is None:
            child = self._latency[label] = metrics.HANDLER_SECONDS.labels(label, self.group)
        return child

    async def _process(
        self, record: ConsumerRecord[Any, Any], from_retry: bool, batch: "_Batch"
    ) -> None:
        headers = decode_headers(record.headers)
        if from_retry:
            parsed = retry_origin(headers)
            if isinstance(parsed, str):  # garbled retry headers: nothing to retry from
                origin = RecordOrigin(record.topic, record.partition, record.offset, 1, 0)
                self._count_consumed({record.topic: 1})
                await self._reject(record, headers, origin, EventValidationError(parsed))
                return
            origin = parsed
        else:
            origin = RecordOrigin(record.topic, record.partition, record.offset, 1, 0)
        source_topic = origin.topic
        attempt = origin.attempt
        label = source_topic if source_topic in self.routes else _UNKNOWN_TOPIC
        if from_retry:
            await self._wait_until(origin.not_before_ms)
            self._count_consumed({label: 1})

        started = time.perf_counter()
        # Per record (a scrape can see it only while a handler waits): bounded by the slots.
        self._running += 1
        span = continue_trace(headers)
        if span is not None:  # nothing records spans: the span is ids only (``telemetry``)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                await self._handle(record, headers, origin, span, batch, span.get_span_context())
            finally:
                self._running -= 1
                self._handler_seconds(label).observe(time.perf_counter() - started)
                otel_context.detach(token)
            return
        token = otel_context.attach(propagate.extract(headers))
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
                await self._handle(record, headers, origin, span, batch, None)
        finally:
            self._running -= 1
            self._handler_seconds(label).observe(time.perf_counter() - started)
            otel_context.detach(token)

    async def _reject(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "RecordOrigin",
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
        origin: "RecordOrigin",
        span: trace.Span,
        batch: "_Batch",
        parent: trace.SpanContext | None,
    ) -> None:
        """``parent``: the record's span context when nothing records spans (its outputs'
        ``traceparent`` is made from it), else None (the SDK's producer spans)."""
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
                # Started eagerly: a handler that never waits is done here, with no
                # timer armed and cancelled around it (it could not time out anyway).
                pending = handler(incoming)
                if isinstance(pending, Coroutine):
                    pending = asyncio.Task(
                        pending, loop=asyncio.get_running_loop(), eager_start=True
                    )
                if isinstance(pending, asyncio.Future) and pending.done():
                    outputs = pending.result()
                else:
                    outputs = await asyncio.wait_for(
                        pending, timeout=self.settings.handler_timeout_s
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
            # Enqueued in order (a key's outputs keep their order); acknowledged before
            # the batch returns (``process_batch``).
            acks, producer, source = batch.acks, batch.producer, self.settings.service_name
            for event in outputs:
                acks.append(
                    await enqueue(
                        self.broker, event, source, producer=producer, parent=parent, counted=False
                    )
                )
                batch.topics.append(event.topic.name)
        finally:
            job_id_var.reset(job_token)

    async def _wait_until(self, not_before_ms: int) -> None:
        delay = not_before_ms / 1000 - time.time()
        if delay > 0:
            await asyncio.sleep(min(delay, self.policy.max_s))

    # ----------------------------------------------------------- retry and DLQ

    async def _retry_or_dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "RecordOrigin",
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
        headers_out = retry_headers(headers, origin, exc, next_attempt, delay)
        log.warning(
            "handler failed, will retry",
            extra={"attempt": attempt, "retry_in_s": round(delay, 2), "error": type(exc).__name__},
        )
        await self.broker.publish(
            record.value, topic=self.retry_topic.name, key=record.key, headers=headers_out
        )
        metrics.RETRIED.labels(origin.topic, self.group).inc()

    async def _dead_letter(
        self,
        record: ConsumerRecord[Any, Any],
        headers: dict[str, str],
        origin: "RecordOrigin",
        exc: BaseException,
        error_class: str,
    ) -> None:
        letter = dead_letter(record, headers, origin, exc, error_class, self.group)
        await self.broker.publish(
            letter.model_dump_json(by_alias=True).encode(),
            topic=self.dead_letter_topic.name,
            key=record.key,
            headers={"ce_type": "careers.dead-letter", "x-error-class": error_class},
        )
        label = origin.topic if origin.topic in self.routes else _UNKNOWN_TOPIC
        metrics.DEAD_LETTERED.labels(label, self.group, error_class).inc()
