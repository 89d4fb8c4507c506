"""Batches and per-key ordering: how a fetched batch is taken apart and run.

Records are grouped by key (job id). Keys run concurrently, at most as many records at
once as the semaphore allows; the records of one key run one after another, in offset
order. One slow job therefore does not hold up the other jobs in its partition.

Also FastStream's batch parser and decoder, made unable to fail on a record: the policy
decodes every record itself.
"""

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
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
