"""Consumer lag per partition, exported as ``careers_consumer_lag``.

Lag is the distance between the partition's high watermark (as last seen by the fetcher)
and the consumer's committed position. The embedded broker reports the end offset of a
batch-produced partition as the start of its last batch + 1, so lag there can read low;
it is exact on Apache Kafka.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from careers_runtime import metrics

if TYPE_CHECKING:
    from careers_runtime.delivery import EventConsumer


class LagMonitor:
    def __init__(self, consumers: "Sequence[EventConsumer]", interval_s: float = 5.0) -> None:
        self.consumers = consumers
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        for consumer in self.consumers:
            for subscription in consumer.subscriptions:
                client = subscription.client
                if client is None:
                    continue
                for tp in client.assignment():
                    highwater = client.highwater(tp)
                    if highwater is None:
                        continue
                    try:
                        position = await client.position(tp)
                    except Exception:  # noqa: S112 - partition revoked mid-read: skip it
                        continue
                    metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition), consumer.group).set(
                        max(0, highwater - position)
                    )

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.refresh()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
