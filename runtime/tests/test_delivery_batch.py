"""The batch path of the delivery policy without a broker (issue 17): outputs are enqueued
as records are handled and acknowledged before the batch returns (commit after produce),
a key's records and outputs keep their order, a handler that waits is still bounded by
``HANDLER_TIMEOUT_S``, and a failed acknowledgement fails the batch."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from careers_contracts import TOPICS, ProfileSubmission, ProfileSubmitted
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, encode
from careers_runtime.delivery import EventConsumer
from careers_runtime.settings import ServiceSettings

TOPIC = TOPICS.profile_submitted
OUT = TOPICS.job_status


class AckLaterBroker:
    """Records what is published; acknowledgements resolve only when ``ack_all`` runs."""

    class config:  # mimics KafkaBroker.config.producer for started_producer()
        producer = None

    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[str, bytes, bytes | None]] = []
        self.pending: list[asyncio.Future[None]] = []
        self.fail = fail

    async def publish(self, value: bytes, *, topic: str, key: Any = None, **_: Any) -> Any:
        self.published.append((topic, value, key))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(ack)
        return ack

    def ack_all(self) -> None:
        for ack in self.pending:
            if not ack.done():
                ack.set_exception(RuntimeError("refused")) if self.fail else ack.set_result(None)


def _record(job: str, offset: int, summary: str = "s") -> ConsumerRecord[Any, Any]:
    payload = ProfileSubmitted(
        job_id=job,
        user_id="u",
        submitted_at=datetime(2026, 1, 1, tzinfo=UTC),
        profile=ProfileSubmission(summary=summary),
    )
    value, headers = encode(Outgoing(TOPIC, payload, f"evt-{job}-{offset}"), "test")
    raw = tuple((k, v.encode()) for k, v in headers.items())
    return ConsumerRecord(TOPIC.name, 0, offset, 0, 0, job.encode(), value, None, 0, 0, raw)


def _consumer(handler: Any, **overrides: Any) -> tuple[EventConsumer, AckLaterBroker]:
    s = ServiceSettings(service_name="batch-test", **overrides)
    consumer = EventConsumer(create_broker(s), s, group="batch-test", routes={TOPIC: handler})
    broker = AckLaterBroker()
    consumer.broker = broker  # type: ignore[assignment]
    return consumer, broker


def _emit(event: Incoming[Any]) -> list[Outgoing]:
    return [event.emit(OUT, event.payload, f"step-{event.offset}")]


def test_the_batch_returns_only_once_every_output_is_acknowledged() -> None:
    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        return _emit(event)

    async def run() -> None:
        consumer, broker = _consumer(handler)
        records = [_record("a", 0), _record("b", 1), _record("a", 2), _record("c", 3)]
        batch = asyncio.create_task(consumer.process_batch(records, from_retry=False))
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(broker.published) == 4, "every record handled, its output enqueued"
        assert not batch.done(), "no commit before the broker acknowledged the outputs"
        broker.ack_all()
        await asyncio.wait_for(batch, 1)
        # keys one after another (each runs eagerly), a key's outputs in offset order
        assert [k for _, _, k in broker.published] == [b"a", b"a", b"b", b"c"]

    asyncio.run(run())


def test_a_keys_records_run_in_offset_order_even_when_handlers_wait() -> None:
    seen: list[tuple[str, int]] = []

    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        if event.offset % 2 == 0:
            await asyncio.sleep(0.01)  # suspends: the key's next record must wait for it
        seen.append((event.job_id, event.offset))
        return _emit(event)

    async def run() -> None:
        consumer, broker = _consumer(handler)
        records = [_record("a", i) if i % 3 else _record("b", i) for i in range(9)]
        task = asyncio.create_task(consumer.process_batch(records, from_retry=False))
        while not task.done():
            broker.ack_all()
            await asyncio.sleep(0.005)
        await task
        for job in ("a", "b"):
            offsets = [o for j, o in seen if j == job]
            assert offsets == sorted(offsets)
            produced = [k for _, _, k in broker.published if k == job.encode()]
            assert len(produced) == len(offsets)

    asyncio.run(run())


def test_a_handler_that_waits_too_long_is_retried() -> None:
    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        await asyncio.sleep(10)
        return []

    async def run() -> None:
        consumer, broker = _consumer(handler, handler_timeout_s=0.05)
        task = asyncio.create_task(consumer.process_batch([_record("a", 0)], from_retry=False))
        while not task.done():
            broker.ack_all()
            await asyncio.sleep(0.01)
        await asyncio.wait_for(task, 2)
        assert [t for t, _, _ in broker.published] == [consumer.retry_topic.name]

    asyncio.run(run())


def test_a_refused_output_fails_the_batch() -> None:
    """The batch escapes (FastStream rewinds it, nothing is committed)."""

    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        return _emit(event)

    async def run() -> None:
        consumer, broker = _consumer(handler)
        broker.fail = True
        task = asyncio.create_task(
            consumer.process_batch([_record("a", 0), _record("b", 1)], from_retry=False)
        )
        for _ in range(20):
            await asyncio.sleep(0)
        broker.ack_all()
        with pytest.raises(RuntimeError, match="refused"):
            await asyncio.wait_for(task, 1)

    asyncio.run(run())


def test_a_handler_may_return_any_awaitable() -> None:
    """``Handler`` is typed as returning an awaitable, not only a coroutine."""

    def handler(event: Incoming[Any]) -> "asyncio.Future[list[Outgoing]]":
        done: asyncio.Future[list[Outgoing]] = asyncio.get_running_loop().create_future()
        done.set_result(_emit(event))
        return done

    async def run() -> None:
        consumer, broker = _consumer(handler)
        task = asyncio.create_task(consumer.process_batch([_record("a", 0)], from_retry=False))
        while not task.done():
            broker.ack_all()
            await asyncio.sleep(0.001)
        await task
        assert [k for _, _, k in broker.published] == [b"a"]

    asyncio.run(run())


def _sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_acknowledged_outputs_are_counted_as_produced_once_per_batch() -> None:
    """``careers_messages_produced_total`` counts each acknowledged output; a batch whose
    outputs the broker refused counts none of them (they are produced again)."""
    produced = "careers_messages_produced_total"

    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        return _emit(event)

    async def run(fail: bool) -> float:
        consumer, broker = _consumer(handler)
        broker.fail = fail
        before = _sample(produced, topic=OUT.name)
        batch = asyncio.create_task(
            consumer.process_batch([_record("a", 0), _record("b", 1)], from_retry=False)
        )
        for _ in range(20):
            await asyncio.sleep(0)
        broker.ack_all()
        if fail:
            with pytest.raises(RuntimeError):
                await batch
        else:
            await batch
        return _sample(produced, topic=OUT.name) - before

    assert asyncio.run(run(fail=False)) == 2
    assert asyncio.run(run(fail=True)) == 0


def test_the_in_flight_gauge_counts_records_in_handlers() -> None:
    release = asyncio.Event()

    async def handler(event: Incoming[Any]) -> list[Outgoing]:
        await release.wait()
        return []

    async def run() -> None:
        consumer, _ = _consumer(handler)
        group = {"group": "batch-test"}
        batch = asyncio.create_task(
            consumer.process_batch(
                [_record("a", 0), _record("b", 1), _record("a", 2)], from_retry=False
            )
        )
        for _ in range(20):
            await asyncio.sleep(0)
        assert _sample("careers_in_flight", **group) == 2, "one per key: a's second waits"
        release.set()
        await batch
        assert _sample("careers_in_flight", **group) == 0

    asyncio.run(run())
