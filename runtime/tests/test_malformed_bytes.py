"""Malformed record bytes through the real broker: no record lost, no partition stalled.

aiokafka parses a fetch while ``getmany`` drains it; a record whose header key is not
UTF-8 (or a corrupt batch) raised out of ``getmany`` after the other partitions drained in
that call had moved on, so their records were dropped, and the offending partition was
re-fetched and failed forever (issue 25: 4 of 8 records lost on each other partition).

Here every malformed shape (``careers_tools.testing.poison.malformed_shapes``, plus a
control batch) is written byte by byte onto the consumed topic — and onto the retry
topic — between valid records on every partition, and the real ``EventConsumer`` reads
them. Every valid record must be handled (counted), every malformed one the broker
accepted must be dead-lettered with its reason, and every partition's committed offset
must reach the partition's end. Brokers that validate batches (Apache Kafka) refuse some
shapes at produce time; those are then not in the log and not expected.
"""

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.record.util import calc_crc32c
from careers_contracts import ProfileSubmission, ProfileSubmitted, Topic
from careers_contracts.topics import dead_letter_topic, retry_topic
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, encode
from careers_runtime.delivery import EventConsumer
from careers_runtime.dlq_cli import read_dead_letters
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_runtime.settings import ServiceSettings
from careers_runtime.topics_admin import ensure_topics
from careers_tools.testing.poison import (
    RawRecordSpec,
    control_batch,
    malformed_shapes,
    produce_raw,
    record_batch,
)

pytestmark = pytest.mark.broker

PARTITIONS = 3
VALID_PER_PARTITION = 8  # half before the malformed bytes, half after
# Always in the log as written (no broker checks header keys): always dead-lettered.
ALWAYS_DEAD = {"header-key-not-utf8", "second-header-key-not-utf8", "header-value-not-utf8"}
# A broker that rewrites batches on append may turn these into valid records.
REPAIRABLE = {"corrupt-crc", "record-length-mismatch"}


def _topic() -> Topic:
    return Topic(
        name=f"careers.test-malformed-{uuid.uuid4().hex[:8]}.v1",
        payload=ProfileSubmitted,
        description="malformed bytes test",
        producers=("test",),
        consumers=("test",),
        partitions=PARTITIONS,
    )


def _valid(topic: Topic, job_id: str) -> bytes:
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="u",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary="fine"),
    )
    value, _ = encode(Outgoing(topic, payload, f"{job_id}-evt"), "test")
    return value


async def _committed_and_ends(
    bootstrap: str, group: str, topic: str
) -> tuple[dict[int, int | None], dict[int, int]]:
    consumer = AIOKafkaConsumer(
        **kafka_client_kwargs(bootstrap), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        committed = {tp.partition: await consumer.committed(tp) for tp in tps}
        return committed, {tp.partition: end for tp, end in ends.items()}
    finally:
        await consumer.stop()


async def _committed_transaction(bootstrap: str, topic: Topic, prefix: str) -> set[str]:
    """Real transaction markers (control records) where the broker has transactions
    (Apache Kafka; the embedded broker has none and took the raw control batch instead):
    one committed transaction with a valid record on each partition."""
    producer = AIOKafkaProducer(
        **kafka_client_kwargs(bootstrap), transactional_id=f"{prefix}-tx", enable_idempotence=True
    )
    try:
        await asyncio.wait_for(producer.start(), 15)
    except Exception:
        with contextlib.suppress(Exception):
            await producer.stop()
        return set()
    jobs = set()
    try:
        async with producer.transaction():
            for partition in range(PARTITIONS):
                job = f"{prefix}-tx-{partition}"
                jobs.add(job)
                await producer.send(
                    topic.name, _valid(topic, job), key=job.encode(), partition=partition
                )
    finally:
        await producer.stop()
    return jobs


@contextlib.asynccontextmanager
async def consuming(
    bootstrap: str, group: str, topic: Topic, handled: list[str], **settings: Any
) -> AsyncIterator[None]:
    """The real delivery policy consuming ``topic`` in ``group`` meanwhile; each handled
    event's job id is appended to ``handled``."""

    async def handler(event: Incoming[ProfileSubmitted]) -> list[Outgoing]:
        handled.append(event.job_id)
        return []

    service = ServiceSettings(
        kafka_bootstrap_servers=bootstrap,
        service_name="malformed-test",
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
        kafka_batch_timeout_ms=200,
        **settings,
    )
    broker = create_broker(service)
    consumer = EventConsumer(broker, service, group=group, routes={topic: handler})
    await broker.start()
    await consumer.start()
    try:
        yield
    finally:
        await consumer.stop()
        await broker.stop()


async def test_malformed_bytes_are_dead_lettered_and_nothing_else_is_lost(
    kafka_bootstrap: str, kafka_kind: str
) -> None:
    topic = _topic()
    group = f"malformed-{uuid.uuid4().hex[:8]}"
    prefix = f"m{uuid.uuid4().hex[:6]}"
    retry = retry_topic(group)
    await ensure_topics(kafka_bootstrap, [topic, retry, dead_letter_topic(group)])

    producer = AIOKafkaProducer(**kafka_client_kwargs(kafka_bootstrap))
    await producer.start()
    expected: set[str] = set()

    async def valid_round(round_: int) -> None:
        for partition in range(PARTITIONS):
            for i in range(VALID_PER_PARTITION // 2):
                job = f"{prefix}-ok-{round_}-{partition}-{i}"
                expected.add(job)
                await producer.send_and_wait(
                    topic.name, _valid(topic, job), key=job.encode(), partition=partition
                )

    shapes = malformed_shapes(lambda job: _valid(topic, job), prefix)
    accepted: dict[str, str] = {}  # key of the dead letter -> reason fragment
    try:
        await valid_round(0)
        for partition in range(PARTITIONS):
            for name, batch, reason in shapes:
                code = await produce_raw(kafka_bootstrap, topic.name, partition, batch)
                if code == 0:
                    accepted[f"{topic.name}/{partition}/{name}"] = reason
            await produce_raw(kafka_bootstrap, topic.name, partition, control_batch())
        # The retry topic's own subscription reads the same shapes.
        for name, batch, reason in shapes:
            if await produce_raw(kafka_bootstrap, retry.name, 0, batch) == 0:
                accepted[f"{retry.name}/0/{name}"] = reason
        await valid_round(1)
    finally:
        await producer.stop()
    transactional = await _committed_transaction(kafka_bootstrap, topic, prefix)
    assert transactional or kafka_kind != "apache", "Apache Kafka has transactions"
    expected |= transactional
    names = {key.rsplit("/", 1)[1] for key in accepted}
    # Every broker takes the shapes aiokafka chokes on; without them the test proves nothing.
    assert {"header-key-not-utf8", "second-header-key-not-utf8"} <= names, accepted

    handled: list[str] = []
    async with consuming(kafka_bootstrap, group, topic, handled, kafka_retry_poll_ms=200):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            letters = await read_dead_letters(kafka_bootstrap, group)
            repaired = sum(job not in expected for job in handled)
            if expected <= set(handled) and len(letters) + repaired >= len(accepted):
                break
            await asyncio.sleep(0.5)

    missing = expected - set(handled)
    assert not missing, f"{len(missing)} valid records lost: {sorted(missing)[:5]}"

    letters = [stored.letter for stored in await read_dead_letters(kafka_bootstrap, group)]
    found: dict[str, list[str]] = {}
    for letter in letters:
        where = f"{letter.original_topic}/{letter.original_partition}"
        found.setdefault(where, []).append(letter.error_message)
    repaired = set(handled) - expected  # shapes the broker rewrote into valid records
    for key, reason in accepted.items():
        where, name = key.rsplit("/", 1)
        messages = found.get(where, [])
        reasons = (reason,)
        if where.startswith(retry.name):  # a readable record there lacks retry headers
            reasons = (reason, "without x-original-topic")
        dead = sum(any(r in message for r in reasons) for message in messages)
        if name in ALWAYS_DEAD:
            assert dead >= 1, (key, messages)
        elif dead == 0:  # not dead-lettered: then it was a valid record after all
            assert f"{prefix}-{name}" in repaired, (key, messages)
    assert repaired <= {f"{prefix}-{name}" for name in REPAIRABLE}, repaired
    assert len(letters) + sum(handled.count(job) for job in repaired) >= len(accepted)
    # What could be read is kept: the key and value of a record with a bad header key.
    bad_key = [x for x in letters if "header key #1" in x.error_message]
    assert bad_key and all(x.original_key == f"{prefix}-header-key-not-utf8" for x in bad_key)
    assert all(x.original_value.startswith("{") for x in bad_key)

    committed, ends = await _committed_and_ends(kafka_bootstrap, group, topic.name)
    assert committed == ends, "a partition's committed offset stopped short of its end"


async def test_random_bytes_through_the_broker_never_stop_a_partition(
    kafka_bootstrap: str,
) -> None:
    """Fuzzing through the broker: batches with random header keys and values (any
    bytes), some with random damage (CRC kept or not), between valid records on every
    partition. Whatever the broker accepts, every valid record is handled and every
    partition's committed offset reaches its end (seeded: the same bytes every run)."""
    rng = random.Random(25)
    topic = _topic()
    group = f"fuzz-bytes-{uuid.uuid4().hex[:8]}"
    prefix = f"f{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka_bootstrap, [topic, retry_topic(group), dead_letter_topic(group)])
    expected: set[str] = set()
    for partition in range(PARTITIONS):
        for i in range(12):
            job = f"{prefix}-ok-{partition}-{i}"
            expected.add(job)
            await produce_raw(
                kafka_bootstrap,
                topic.name,
                partition,
                record_batch([RawRecordSpec(job.encode(), _valid(topic, job))]),
            )
            headers = tuple(
                (rng.randbytes(rng.randint(1, 12)), rng.choice([None, rng.randbytes(8)]))
                for _ in range(rng.randint(1, 4))
            )
            noise = f"{prefix}-noise-{partition}-{i}"
            batch = bytearray(
                record_batch([RawRecordSpec(noise.encode(), _valid(topic, noise), headers)])
            )
            if rng.random() < 0.3:  # damage: past the batch header, in the records
                for _ in range(rng.randint(1, 4)):
                    batch[rng.randrange(61, len(batch))] = rng.randrange(256)
                if rng.random() < 0.5:  # and sometimes a matching CRC, so it looks whole
                    batch[17:21] = calc_crc32c(bytes(batch[21:])).to_bytes(4, "big")
            await produce_raw(kafka_bootstrap, topic.name, partition, bytes(batch))

    handled: list[str] = []
    async with consuming(kafka_bootstrap, group, topic, handled):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not expected <= set(handled):
            await asyncio.sleep(0.3)
        committed, ends = await _committed_and_ends(kafka_bootstrap, group, topic.name)
        while time.monotonic() < deadline and committed != ends:
            await asyncio.sleep(0.5)
            committed, ends = await _committed_and_ends(kafka_bootstrap, group, topic.name)
    missing = expected - set(handled)
    assert not missing, f"{len(missing)} valid records lost: {sorted(missing)[:5]}"
    assert committed == ends, "a partition's committed offset stopped short of its end"
