"""convex-sync's transport: Kafka handlers that write each event to Convex.

Consumes ``agent-outputs`` and ``recommendations`` through the shared delivery policy
(``careers_runtime.delivery``), which gives per-job ordering with bounded concurrency,
retry topics, dead letters and commit-after-handler. A handler returns (no outputs) only
after Convex confirmed the write, so an offset is committed only for confirmed documents.

Back-pressure: the runtime handles one fetched batch at a time (at most
``KAFKA_MAX_BATCH_RECORDS`` records, ``MAX_IN_FLIGHT`` of them concurrently) and fetches
the next only when every handler of the batch has returned. While Convex is slow or down,
handlers wait in their retry loop, so consumption pauses instead of buffering records.
"""

from collections.abc import Sequence
from typing import Any

from careers_contracts import TOPICS, AgentOutput, RecommendationsReady
from careers_runtime.app import create_worker_app
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing
from careers_runtime.delivery import EventConsumer
from careers_runtime.telemetry import current_trace_id
from faststream.asgi import AsgiFastStream

from convex_sync.domain.documents import (
    ConvexWrite,
    agent_output_document,
    recommendations_document,
)
from convex_sync.settings import ConvexSyncSettings
from convex_sync.writer import ConvexWriter


def create_app(settings: ConvexSyncSettings, writer: ConvexWriter | None = None) -> AsgiFastStream:
    writer = writer or ConvexWriter(settings)
    broker = create_broker(settings)

    async def deliver(write: ConvexWrite) -> Sequence[Outgoing]:
        await writer.write(write)
        return ()

    async def on_agent_output(event: Incoming[AgentOutput]) -> Sequence[Outgoing]:
        return await deliver(agent_output_document(event.payload, current_trace_id()))

    async def on_recommendations(event: Incoming[RecommendationsReady]) -> Sequence[Outgoing]:
        return await deliver(recommendations_document(event.payload, current_trace_id()))

    routes: dict[Any, Any] = {
        TOPICS.agent_outputs: on_agent_output,
        TOPICS.recommendations: on_recommendations,
    }
    consumer = EventConsumer(
        broker, settings, group=settings.convex_sync_consumer_group, routes=routes
    )
    app = create_worker_app(settings, broker, [consumer], on_startup=[writer.start])
    # Last, after the broker stopped: the consumers drained (or cut short after the grace
    # period) first, so no handler is writing any more.
    app.after_shutdown(writer.aclose)
    return app
