"""Poison records: one of each shape a careless or hostile producer can write.

Used by the delivery tests (each shape on the real broker) and by ``make chaos`` (injected
into a running stack). Every one of them must end in the consuming group's dead-letter
topic with a reason, and the partition must move on.
"""

import asyncio
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.util import calc_crc32c, encode_varint
from careers_contracts import (
    TOPICS,
    ProfileSubmission,
    ProfileSubmitted,
    Topic,
)
from careers_contracts.topics import retry_topic
from careers_runtime.codec import Outgoing, encode
from careers_runtime.kafka_client import kafka_client_kwargs, producer_kwargs
from careers_runtime.settings import KafkaSettings

# The producer must be allowed to send the 10 MB record (Kafka's default broker limit
# would refuse it; the embedded broker has none, which is what makes the shape possible).
MAX_REQUEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Poison:
    name: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    reason: str = ""  # a fragment of the dead letter's error message


def _valid_profile(job_id: str) -> bytes:
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="poison",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary="poison"),
    )
    value, _ = encode(Outgoing(TOPICS.profile_submitted, payload, f"{job_id}-evt"), "poison")
    return value


def poison_records(topic: Topic, group: str, prefix: str) -> list[Poison]:
    """One record of each poison shape for ``group`` consuming ``topic`` (whose payload is
    ``ProfileSubmitted``); keys are ``<prefix>-<shape>``."""

    def key(name: str) -> bytes:
        return f"{prefix}-{name}".encode()

    def valid(name: str) -> bytes:
        value = _valid_profile(f"{prefix}-{name}")
        return value.replace(
            TOPICS.profile_submitted.event_type.encode(), topic.event_type.encode()
        )

    wrong_value = _valid_profile(f"{prefix}-wrong-type").replace(
        TOPICS.profile_submitted.event_type.encode(), b"careers.not-this-topic"
    )
    retry = retry_topic(group).name
    return [
        Poison(
            "deep-nesting", topic.name, key("deep-nesting"), b"[" * 100_000, (), "RecursionError"
        ),
        Poison(
            "huge-integer",
            topic.name,
            key("huge-integer"),
            b'{"id": ' + b"9" * 50_000 + b"}",
            (),
            "not JSON",
        ),
        Poison(
            "invalid-utf8",
            topic.name,
            key("invalid-utf8"),
            b'{"id": "\xff\xfe\x80"}',
            (),
            "not JSON",
        ),
        Poison("wrong-type", topic.name, key("wrong-type"), wrong_value, (), "does not belong"),
        Poison(
            "oversized", topic.name, key("oversized"), b"x" * (10 * 1024 * 1024), (), "event limit"
        ),
        Poison("null-value", topic.name, key("null-value"), None, (), "tombstone"),
        Poison("no-key", topic.name, None, valid("no-key"), (), "no key"),
        Poison(
            # Retry headers on a main-topic record are not its own: they must be ignored.
            "garbled-headers-main",
            topic.name,
            key("garbled-headers-main"),
            b"{not json",
            (
                ("x-original-partition", b"abc"),
                ("x-original-offset", b"9" * 5000),
                ("x-retry-history", b"[" * 100_000),
                ("x-null-header", None),
                ("ce_id", b"\xff\xfe"),
            ),
            "not JSON",
        ),
        Poison(
            "garbled-retry-headers",
            retry,
            key("garbled-retry-headers"),
            valid("garbled-retry-headers"),
            (
                ("x-original-topic", topic.name.encode()),
                ("x-original-partition", b"abc"),
                ("x-original-offset", b"9" * 5000),
                ("x-retry-attempt", b"2"),
                ("x-retry-not-before-ms", b"0"),
                ("x-retry-history", b"[" * 100_000),
            ),
            "garbled x-original-partition",
        ),
    ]


# Apache Kafka refuses the 10 MB value at produce time (message.max.bytes, ~1 MiB): there
# the broker itself is the guard. Against such a broker the shape is sent again at a size
# over our decoder's limit (900 KiB) and under Kafka's, so the decoder's check still runs.
BROKER_SAFE_OVERSIZED_BYTES = 950 * 1024


async def inject(kafka: "str | KafkaSettings", records: list[Poison]) -> list[Poison]:
    """Produce ``records`` (acknowledged) with a producer that allows the 10 MB one; returns
    the records as produced (the oversized one cut to fit a broker that refused it)."""
    # Not idempotent: after a refused batch aiokafka's idempotent producer fails every
    # later send on that partition with OutOfOrderSequenceNumber.
    options = producer_kwargs(kafka) | {"enable_idempotence": False}
    producer = AIOKafkaProducer(**options, max_request_size=MAX_REQUEST_BYTES)
    await producer.start()
    produced: list[Poison] = []
    try:
        for record in records:
            try:
                await _send(producer, record)
            except MessageSizeTooLargeError:
                if record.value is None or len(record.value) <= BROKER_SAFE_OVERSIZED_BYTES:
                    raise
                record = replace(record, value=record.value[:BROKER_SAFE_OVERSIZED_BYTES])
                await _send(producer, record)
            produced.append(record)
    finally:
        await producer.stop()
    return produced


async def _send(producer: AIOKafkaProducer, record: Poison) -> None:
    await producer.send_and_wait(
        record.topic, record.value, key=record.key, headers=list(record.headers)
    )


# ---------------------------------------------------------------- malformed bytes
#
# Shapes no Kafka client library will write (aiokafka encodes header keys as UTF-8 and
# computes every CRC), so they are built here byte by byte (message format v2) and sent
# in a raw Produce request. aiokafka fails *parsing* them while ``getmany`` drains a
# fetch; the consumer's salvage path (``careers_runtime.delivery.salvage``) must still
# handle every other record and dead-letter or record each of these.

RawHeader = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class RawRecordSpec:
    key: bytes | None
    value: bytes | None
    headers: tuple[RawHeader, ...] = ()


def _varint(value: int) -> bytes:
    out = bytearray()
    encode_varint(value, out.append)
    return bytes(out)


def _nullable(data: bytes | None) -> bytes:
    return _varint(-1) if data is None else _varint(len(data)) + data


def _record(index: int, spec: RawRecordSpec) -> bytes:
    body = (
        b"\x00"  # attributes
        + _varint(0)  # timestamp delta
        + _varint(index)  # offset delta
        + _nullable(spec.key)
        + _nullable(spec.value)
        + _varint(len(spec.headers))
        + b"".join(_varint(len(k)) + k + _nullable(v) for k, v in spec.headers)
    )
    return _varint(len(body)) + body


def record_batch(
    records: Sequence[RawRecordSpec],
    *,
    attributes: int = 0,
    producer_id: int = -1,
    corrupt_crc: bool = False,
    records_bytes: bytes | None = None,
) -> bytes:
    """A v2 record batch of ``records`` (or of ``records_bytes`` verbatim, counted as
    ``len(records)`` records); ``corrupt_crc`` writes a CRC that does not match."""
    body = (
        records_bytes
        if records_bytes is not None
        else b"".join(_record(i, spec) for i, spec in enumerate(records))
    )
    now = int(time.time() * 1000)
    after_crc = (
        struct.pack(
            ">hiqqqhii", attributes, len(records) - 1, now, now, producer_id, 0, -1, len(records)
        )
        + body
    )
    crc = calc_crc32c(after_crc) ^ (0xFFFF if corrupt_crc else 0)
    after_length = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def control_batch(commit: bool = True) -> bytes:
    """A transaction marker (control batch): consumers skip it, its offset still counts."""
    key = struct.pack(">hh", 0, 1 if commit else 0)
    value = struct.pack(">hi", 0, 0)
    return record_batch([RawRecordSpec(key, value)], attributes=0x30, producer_id=1)


async def produce_raw(
    kafka: "str | KafkaSettings", topic: str, partition: int, batch: bytes
) -> int:
    """Send ``batch`` as-is to ``topic[partition]``'s leader: the partition's error code
    (0: appended; a broker that validates batches refuses the corrupt ones)."""
    producer = AIOKafkaProducer(**kafka_client_kwargs(kafka))
    await producer.start()
    try:
        client = producer.client
        tp = TopicPartition(topic, partition)
        node_id = client.cluster.leader_for_partition(tp)
        for _ in range(50):
            if node_id is not None and node_id >= 0:
                break
            await client.force_metadata_update()
            client.add_topic(topic)
            node_id = client.cluster.leader_for_partition(tp)
            await asyncio.sleep(0.1)
        request = ProduceRequest(None, -1, 30_000, [(topic, [(partition, batch)])])
        response = await client.send(node_id, request)
        for _topic, partitions in response.topics:
            for part in partitions:
                if part[0] == partition:
                    return int(part[1])
        raise RuntimeError(f"no answer for {topic}[{partition}]")
    finally:
        await producer.stop()


def malformed_shapes(
    valid_value: Callable[[str], bytes], prefix: str
) -> list[tuple[str, bytes, str]]:
    """(name, batch, reason fragment) for each malformed shape; ``valid_value(job_id)`` is
    a valid event of the topic (the bytes around the damage are otherwise fine), the job
    id ``<prefix>-<name>``, as is the record's key. A broker may repair a shape when it
    appends it (tansu rewrites a batch, CRC included): that record is then a valid event."""

    def spec(name: str, headers: tuple[RawHeader, ...] = ()) -> RawRecordSpec:
        job = f"{prefix}-{name}"
        return RawRecordSpec(job.encode(), valid_value(job), headers)

    good_headers: tuple[RawHeader, ...] = ((b"ce_type", b"x"),)
    length_spec = spec("record-length-mismatch")
    return [
        (
            "header-key-not-utf8",
            record_batch([spec("header-key-not-utf8", ((b"\xff\xfe\x80", b"v"),))]),
            "header key #1 is not UTF-8",
        ),
        (
            "second-header-key-not-utf8",
            record_batch([spec("second-header-key-not-utf8", (*good_headers, (b"ok\xc3", None)))]),
            "header key #2 is not UTF-8",
        ),
        (
            "header-value-not-utf8",  # readable by aiokafka: the policy dead-letters it
            record_batch(
                [
                    RawRecordSpec(
                        f"{prefix}-header-value-not-utf8".encode(),
                        b"{\xff",
                        ((b"ce_id", b"\xff\xfe"), (b"n", None)),
                    )
                ]
            ),
            "not JSON",
        ),
        (
            "corrupt-crc",
            record_batch([spec("corrupt-crc")], corrupt_crc=True),
            "CRC mismatch",
        ),
        (
            "record-length-mismatch",
            record_batch([length_spec], records_bytes=_record(0, length_spec) + b"\x00\x01"),
            "record batch corrupt",
        ),
    ]
