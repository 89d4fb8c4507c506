"""A consumer group's subscription: one aiokafka consumer and its fetch loop.

Each fetch (``getmany``: up to ``KAFKA_MAX_BATCH_RECORDS`` records across the assigned
partitions) is one batch for the policy (``EventConsumer.process_batch``). Its offsets
are committed only when that returns, i.e. when every output is acknowledged; anything
escaping rewinds each of the batch's partitions to its first record, so the batch is
fetched again. A commit refused because the group rebalanced meanwhile is logged: the
partition's new owner re-reads from the last commit, and deterministic event ids make
the re-produced events identical.

Why aiokafka directly rather than FastStream's batch subscriber (which this replaced in
issue 17): per batch FastStream runs its parser, middlewares, dependency injection and
logging context around our handler, and its parser decodes every header of every record
again, which ``make bench-hop`` measures as a clear share of a record's CPU
(docs/benchmarks.md, one hop). The policy needs none of it: it decodes records itself.
FastStream still runs the worker's app (lifecycle, health routes) and its producer.

Fetches go through ``SafeFetch`` (``salvage``): a record aiokafka cannot parse (a header
key that is not UTF-8, a corrupt batch) comes back as an unreadable record, which
``on_unreadable`` dead-letters before the batch commits past it; no other record of the
fetch is lost and the partition moves on.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from careers_runtime.backoff import Backoff
from careers_runtime.delivery.salvage import Fetched, SafeFetch, UnreadableRecord
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_runtime.settings import ServiceSettings

log = logging.getLogger("careers_runtime.delivery")

BatchProcessor = Callable[[Sequence[ConsumerRecord[Any, Any]]], Awaitable[None]]
UnreadableHandler = Callable[[UnreadableRecord], Awaitable[None]]

# After a fetch error (broker unreachable, ...) or a failed batch: wait before trying again
# so that a lasting fault is not a hot loop (doubling up to the cap, reset on success).
# After a failed fetch or batch: 0.1-0.2 s, doubling up to 5 s while failures go on.
_BACKOFF = Backoff(base_s=0.2, max_s=5.0)


class _LogAssignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, group: str, subscription: "Subscription") -> None:
        self.group = group
        self.subscription = subscription

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self.subscription.fetch is not None:
            self.subscription.fetch.forget(revoked)
        if revoked:
            log.info(
                "partitions revoked", extra={"group": self.group, "partitions": _names(revoked)}
            )

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self.subscription.fetch is not None:
            self.subscription.fetch.forget(assigned)
        log.info("partitions assigned", extra={"group": self.group, "partitions": _names(assigned)})


def _names(partitions: set[TopicPartition]) -> str:
    return ",".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))


class Subscription:
    """``topics`` read by group ``group_id``; every fetched batch goes to ``process``."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        topics: Sequence[str],
        group_id: str,
        process: BatchProcessor,
        on_unreadable: UnreadableHandler,
        batch_timeout_ms: int,
        fetch_max_wait_ms: int,
        assignors: Sequence[type[Any]] = (),
    ) -> None:
        self.settings = settings
        self.topics = tuple(topics)
        self.group_id = group_id
        self.batch_timeout_ms = batch_timeout_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._process = process
        self._on_unreadable = on_unreadable
        self._assignors = tuple(assignors)
        self.client: AIOKafkaConsumer | None = None
        self.fetch: SafeFetch | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._idle = asyncio.Event()  # set while no batch is in hand
        self._idle.set()

    def assignment(self) -> set[TopicPartition]:
        """The partitions held now (empty before start and after stop)."""
        return set(self.client.assignment()) if self.client is not None else set()

    async def start(self) -> None:
        settings = self.settings
        extra: dict[str, Any] = {}
        if self._assignors:
            extra["partition_assignment_strategy"] = self._assignors
        client = AIOKafkaConsumer(
            **kafka_client_kwargs(settings),
            client_id=settings.kafka_client_id or f"{settings.service_name}-{socket.gethostname()}",
            group_id=self.group_id,
            # Committed by the loop, after the batch's outputs are acknowledged.
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=settings.kafka_request_timeout_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **extra,
        )
        client.subscribe(list(self.topics), listener=_LogAssignment(self.group_id, self))
        await client.start()
        self.client = client
        self.fetch = SafeFetch(client, group=True)
        self._running = True
        self._task = asyncio.create_task(self._run(client), name=f"consume:{self.group_id}")

    async def stop(self, grace_s: float) -> None:
        """Stop fetching; let the batch in hand finish (and commit) for up to ``grace_s``;
        then leave the group. A batch cut short is re-delivered (never committed)."""
        self._running = False
        task, self._task = self._task, None
        if task is not None:
            if self._idle.is_set():
                task.cancel()  # waiting in a fetch: nothing in hand
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, grace_s)
        client, self.client = self.client, None
        self.fetch = None
        if client is not None:
            await client.stop()

    # ------------------------------------------------------------------- the loop

    async def _run(self, client: AIOKafkaConsumer) -> None:
        fetch = self.fetch
        assert fetch is not None
        idle = self._idle
        failures = 0
        max_records = self.settings.kafka_max_batch_records
        while self._running:
            try:
                fetched = await fetch.getmany(
                    timeout_ms=self.batch_timeout_ms, max_records=max_records
                )
            except ConsumerStoppedError:
                return
            except Exception as exc:  # KafkaError mostly; the loop must not die of any
                log.error(
                    "fetch failed, retrying",
                    extra={"group": self.group_id, "error": f"{type(exc).__name__}: {exc}"[:300]},
                )
                failures += 1
                await asyncio.sleep(_BACKOFF.delay_s(failures))
                continue
            if not fetched:
                continue
            records = tuple(chain.from_iterable(fetched.records.values()))
            idle.clear()
            try:
                if records:
                    await self._process(records)
                for unreadable in fetched.unreadable:
                    await self._on_unreadable(unreadable)
            except asyncio.CancelledError:
                _rewind(fetch, records, fetched)
                raise
            except Exception as exc:
                # The policy handles every record's own failure (retry topic, dead
                # letter); what escapes is the batch's: an output the broker refused.
                log.error(
                    "batch failed, rewound for re-delivery",
                    exc_info=True,
                    extra={
                        "group": self.group_id,
                        "records": len(records),
                        "error": type(exc).__name__,
                    },
                )
                _rewind(fetch, records, fetched)
                failures += 1
                await asyncio.sleep(_BACKOFF.delay_s(failures))
                continue
            finally:
                idle.set()
            failures = 0
            await self._commit(client, records, fetched)

    async def _commit(
        self,
        client: AIOKafkaConsumer,
        records: Sequence[ConsumerRecord[Any, Any]],
        fetched: Fetched,
    ) -> None:
        offsets: dict[TopicPartition, int] = {}
        for record in records:  # in offset order per partition: the last one wins
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        # A salvaged partition goes on past its unreadable records and control batches.
        offsets.update(fetched.ends)
        if not offsets:
            return
        try:
            await client.commit(offsets)
        except Exception as exc:  # CommitFailedError, IllegalStateError, a lost connection
            # Typically the group rebalanced while the batch ran: its partitions' new owner
            # reads from the last commit (the same events again, with the same ids). The
            # loop goes on either way: a dead loop would leave the member assigned, idle.
            log.warning(
                "commit refused, batch will be re-delivered",
                extra={"group": self.group_id, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )


def _rewind(
    fetch: SafeFetch, records: Sequence[ConsumerRecord[Any, Any]], fetched: Fetched
) -> None:
    """Seek each partition of the batch back to its first record or unreadable record
    (still assigned only)."""
    earliest: dict[TopicPartition, int] = {}
    for record in chain(records, (u.record for u in fetched.unreadable)):
        tp = TopicPartition(record.topic, record.partition)
        earliest[tp] = min(earliest.get(tp, record.offset), record.offset)
    assigned = fetch.consumer.assignment()
    for tp, offset in earliest.items():
        if tp in assigned:
            fetch.seek(tp, offset)
