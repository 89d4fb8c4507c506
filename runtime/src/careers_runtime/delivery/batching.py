"""Batches and per-key ordering: how a fetched batch is taken apart and run.

Records are grouped by key (job id). Keys run concurrently, at most as many records at
once as the semaphore allows; the records of one key run one after another, in offset
order. One slow job therefore does not hold up the other jobs in its partition.
"""

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from aiokafka import ConsumerRecord


class RecordProcessor(Protocol):
    def __call__(
        self, record: ConsumerRecord[Any, Any], *, from_retry: bool
    ) -> Awaitable[None]: ...


async def run_in_key_order(
    records: Sequence[ConsumerRecord[Any, Any]],
    slots: asyncio.Semaphore,
    process_record: RecordProcessor,
    *,
    from_retry: bool,
) -> None:
    """Run ``process_record`` on every record: keys concurrently (within ``slots``), each
    key's records in offset order.

    Each key runs in an eager task: it runs at once, up to its first real suspension, so
    a key whose records never wait (the usual case once outputs are enqueued rather than
    awaited one by one) costs no trip through the event loop. Every key is waited for
    before the first failure is raised, so nothing keeps running after the batch failed.
    """
    by_key: dict[Any, list[ConsumerRecord[Any, Any]]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)

    async def run_key(key_records: list[ConsumerRecord[Any, Any]]) -> None:
        for record in key_records:
            async with slots:
                await process_record(record, from_retry=from_retry)

    loop = asyncio.get_running_loop()
    tasks = [asyncio.Task(run_key(group), loop=loop, eager_start=True) for group in by_key.values()]
    pending = [task for task in tasks if not task.done()]
    if pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:  # shutdown: stop the keys too
            for task in pending:
                task.cancel()
            raise
    for task in tasks:
        task.result()  # the first failure, in key order (a cancelled key raises CancelledError)
