"""``SafeFetch``: ``getmany`` that no record's bytes can make lose or stall records.

aiokafka parses a fetch while ``getmany`` drains it. When a record cannot be parsed (a
header key that is not UTF-8, a batch whose CRC does not match, lengths that disagree)
the exception escapes ``getmany`` *after* the partitions drained before it in the same
call have moved their positions: those records are dropped, and the next commit skips
them. The offending partition then fails on every fetch, forever.

``SafeFetch`` remembers, per partition, the offset after the last record it handed out.
When ``getmany`` raises it:

1. seeks every assigned partition back to that offset (or, never read, to the group's
   committed offset, else the log start), so the dropped records come again;
2. re-reads each partition once with its own Fetch (``_aiokafka_adapter.fetch_raw``)
   and the lenient reader (``raw_records``): the records that parse are returned as
   usual, the offending one as ``Unreadable`` — its raw key, value and headers where its
   bytes could be split, its topic/partition/offsets and the reason where not — and the
   partition's position moves past what was read.

The caller handles the records, dead-letters or records each unreadable one, and only
then commits up to ``Fetched.ends`` (the subscription) — so an unreadable record is
skipped only after it was accounted for.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from careers_runtime._aiokafka_adapter import fetch_raw
from careers_runtime.delivery.raw_records import RawRecord, Unreadable, read_batches

log = logging.getLogger("careers_runtime.delivery")

# One partition's share of a salvage read (aiokafka's max_partition_fetch_bytes default);
# a larger first batch is still returned whole by the broker.
SALVAGE_FETCH_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """A record dead-lettered or recorded instead of handled. ``record`` holds what could
    be read (key, value, headers with non-UTF-8 keys escaped), or only its position."""

    record: ConsumerRecord[Any, Any]
    reason: str


@dataclass(slots=True)
class Fetched:
    records: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    unreadable: list[UnreadableRecord] = field(default_factory=list)
    # After a salvage: the offset each re-read partition goes on from (past its
    # unreadable records and control batches); commit up to it once all is handled.
    ends: dict[TopicPartition, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.records or self.unreadable or self.ends)


class SafeFetch:
    """Wraps a started consumer's ``getmany``; ``seek`` through it to keep it in step."""

    def __init__(self, consumer: AIOKafkaConsumer, *, group: bool) -> None:
        self.consumer = consumer
        self._group = group
        self._next: dict[TopicPartition, int] = {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.consumer.seek(tp, offset)
        self._next[tp] = offset

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """After a rebalance: positions come from the group's commits again."""
        for tp in partitions:
            self._next.pop(tp, None)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int, max_records: int | None
    ) -> Fetched:
        try:
            fetched = await self.consumer.getmany(
                *partitions, timeout_ms=timeout_ms, max_records=max_records
            )
        except ConsumerStoppedError:
            raise
        except Exception as exc:
            return await self._salvage(exc, partitions)
        known = self._next
        for tp, records in fetched.items():
            known[tp] = records[-1].offset + 1
        return Fetched(fetched)

    async def _start_of(self, tp: TopicPartition) -> int:
        known = self._next.get(tp)
        if known is not None:
            return known
        if self._group:
            committed = await self.consumer.committed(tp)
            if committed is not None:
                return int(committed)
        return int((await self.consumer.beginning_offsets([tp]))[tp])

    async def _salvage(self, exc: Exception, partitions: tuple[TopicPartition, ...]) -> Fetched:
        consumer = self.consumer
        assigned = consumer.assignment()
        chosen = sorted(
            (tp for tp in (partitions or assigned) if tp in assigned),
            key=lambda tp: (tp.topic, tp.partition),
        )
        log.warning(
            "fetch unreadable, re-reading its partitions",
            extra={"error": f"{type(exc).__name__}: {exc}"[:300], "partitions": len(chosen)},
        )
        result = Fetched({})
        paused = consumer.paused()
        for tp in chosen:
            start = await self._start_of(tp)
            self.seek(tp, start)  # the records a failed drain dropped come again
            if tp in paused:
                continue
            try:
                code, data = await fetch_raw(consumer, tp, start, SALVAGE_FETCH_BYTES)
            except Exception as fetch_exc:  # the broker is away: the normal fetch retries
                log.warning(
                    "salvage fetch failed",
                    extra={
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "error": type(fetch_exc).__name__,
                    },
                )
                continue
            if code != 0:
                continue  # offset out of range, not leader...: the normal fetch handles it
            batches = read_batches(data, start)
            if batches.next_offset is None:
                continue
            records = result.records.setdefault(tp, [])
            for item in batches.items:
                if isinstance(item, RawRecord) and not item.problem:
                    records.append(_consumer_record(tp, item))
                else:
                    result.unreadable.append(_unreadable(tp, item))
            if not records:
                del result.records[tp]
            result.ends[tp] = batches.next_offset
            self.seek(tp, batches.next_offset)
        for entry in result.unreadable:
            record = entry.record
            log.error(
                "unreadable record: skipped once the caller has dead-lettered it",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "reason": entry.reason,
                },
            )
        if not result:
            raise exc  # nothing to re-read: not the records' fault (the caller backs off)
        return result


def _text_headers(raw: RawRecord) -> tuple[tuple[str, bytes | None], ...]:
    return tuple((k.decode("utf-8", "backslashreplace"), v) for k, v in raw.headers)


def _consumer_record(tp: TopicPartition, raw: RawRecord) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        tp.topic,
        tp.partition,
        raw.offset,
        raw.timestamp,
        raw.timestamp_type,
        raw.key,
        raw.value,
        None,
        len(raw.key) if raw.key is not None else -1,
        len(raw.value) if raw.value is not None else -1,
        _text_headers(raw),
    )


def _unreadable(tp: TopicPartition, item: "RawRecord | Unreadable") -> UnreadableRecord:
    if isinstance(item, RawRecord):
        return UnreadableRecord(_consumer_record(tp, item), item.problem)
    record: ConsumerRecord[Any, Any] = ConsumerRecord(
        tp.topic, tp.partition, item.first, -1, 0, None, None, None, -1, -1, ()
    )
    span = (
        f"offset {item.first}" if item.first == item.last else f"offsets {item.first}-{item.last}"
    )
    return UnreadableRecord(record, f"{item.reason} ({span}; bytes not readable)")
