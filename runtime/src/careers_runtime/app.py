"""A worker service's process: broker + /healthz, /readyz, /metrics, AsyncAPI docs.

Every worker (orchestrator, agents, convex-sync) is an ``AsgiFastStream`` app served by
uvicorn. SIGTERM → uvicorn stops accepting, the consumers stop fetching, wait up to
``shutdown_grace_s`` for in-flight batches (which commit on completion) and leave their
groups; then FastStream closes the producer (flushing).

Kafka is connected *after* HTTP is up: while the cluster refuses the connection (down,
wrong password, untrusted certificate) the process stays alive, ``/healthz`` answers,
``/readyz`` says 503 with the reason, one log line names the setting to check, and it keeps
retrying with backoff. No crash loop, and the pod turns ready once the cause is fixed.

SIGTERM is honoured within ``shutdown_grace_s`` in every state: during start-up (for
example while the broker cannot be reached yet) the process exits at once, since nothing
is in flight; a shutdown that overruns the grace period is cut short (records not yet
committed are re-delivered to the next consumer, and deterministic ids make that safe).
"""

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from careers_runtime._faststream_adapter import BrokerStartHooks
from careers_runtime.delivery import EventConsumer
from careers_runtime.kafka_client import wait_for_kafka
from careers_runtime.lag import LagMonitor
from careers_runtime.logging import configure_logging
from careers_runtime.settings import ServiceSettings
from careers_runtime.telemetry import configure_tracing
from careers_runtime.topics_admin import ensure_topics

log = logging.getLogger(__name__)


def _json(body: dict[str, Any], status: int) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body).encode(), status, headers={"content-type": "application/json"}
    )


def assigned_partitions(consumers: Sequence[EventConsumer]) -> int:
    return sum(len(s.assignment()) for c in consumers for s in c.subscriptions)


def create_worker_app(
    settings: ServiceSettings,
    broker: KafkaBroker,
    consumers: Sequence[EventConsumer],
    *,
    on_startup: Sequence[Callable[[], Awaitable[None]]] = (),
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    after_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
) -> AsgiFastStream:
    """``on_shutdown`` hooks run once the consumers have stopped (their batches finished or
    cut short after ``shutdown_grace_s``) and before the broker stops (publishing still
    works); ``after_shutdown`` hooks run once it has stopped (close what handlers use)."""
    lag = LagMonitor(consumers)
    kafka: dict[str, str | None] = {"error": "connecting"}

    @get(include_in_schema=False)
    async def healthz(scope: Any) -> AsgiResponse:
        return _json({"status": "ok", "service": settings.service_name}, 200)

    @get(include_in_schema=False)
    async def readyz(scope: Any) -> AsgiResponse:
        connected = kafka["error"] is None and await broker.ping(timeout=2.0)
        assigned = assigned_partitions(consumers)
        ready = connected and (assigned > 0 or not consumers)
        body: dict[str, Any] = {
            "ready": ready,
            "brokerConnected": connected,
            "assignedPartitions": assigned,
        }
        if kafka["error"] is not None:
            body["kafkaError"] = kafka["error"]  # names the setting; never a secret
        return _json(body, 200 if ready else 503)

    @get(include_in_schema=False)
    async def metrics(scope: Any) -> AsgiResponse:
        await lag.refresh()
        return AsgiResponse(generate_latest(), 200, headers={"content-type": CONTENT_TYPE_LATEST})

    def kafka_failed(message: str) -> None:
        kafka["error"] = message

    async def connect_kafka() -> None:
        await wait_for_kafka(settings, on_failure=kafka_failed)
        # Retry and dead-letter topics belong to the consumer group; creating them here
        # (idempotent) means a new group never falls back to broker auto-creation.
        await ensure_topics(
            settings,
            [t for c in consumers for t in (c.retry_topic, c.dead_letter_topic)],
            replication_factor=settings.kafka_topic_replication_factor,
        )
        kafka["error"] = None

    async def start_lag() -> None:
        lag.start()

    async def stop_lag() -> None:
        await lag.stop()

    async def start_consumers() -> None:
        for consumer in consumers:
            await consumer.start()

    async def stop_consumers() -> None:
        # First: stop fetching and finish the batches in hand (they commit) while the
        # producer their outputs need is still up; the broker stops after the hooks.
        await asyncio.gather(*(consumer.stop() for consumer in consumers))

    # Kafka is awaited and the consumers started inside FastStream's broker start, after
    # uvicorn serves the probes (runtime/tests/test_kafka_startup.py).
    return BrokerStartHooks(
        broker,
        before_broker=connect_kafka,
        after_broker=start_consumers,
        asgi_routes=[("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics)],
        asyncapi_path="/docs/asyncapi",
        on_startup=list(on_startup),
        after_startup=[start_lag],
        on_shutdown=[stop_consumers, stop_lag, *on_shutdown],
        after_shutdown=list(after_shutdown),
        logger=logging.getLogger(f"{settings.service_name}.app"),
    )


def _exit_now(code: int) -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _Server(uvicorn.Server):
    """uvicorn's server, with SIGTERM/SIGINT bounded by the shutdown grace period."""

    def __init__(self, config: uvicorn.Config, grace_s: float) -> None:
        super().__init__(config)
        self.grace_s = grace_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self.should_exit
        super().handle_exit(sig, frame)
        if not first:
            return
        name = signal.Signals(sig).name
        if not self.started:
            # Start-up (connecting to the broker, creating topics, warming up) can take
            # as long as the client's timeouts; nothing is in flight yet: stop now.
            log.info("stopping during start-up", extra={"signal": name})
            _exit_now(128 + sig)
        timer = threading.Timer(self.grace_s, self._overdue)
        timer.daemon = True
        timer.start()

    def _overdue(self) -> None:
        log.error(
            "shutdown exceeded SHUTDOWN_GRACE_S; exiting (uncommitted records are re-delivered)",
            extra={"graceS": self.grace_s},
        )
        _exit_now(1)


def serve(app: Any, settings: ServiceSettings) -> None:
    """Run an ASGI app (worker or ingest) with logging and tracing configured."""
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    configure_tracing(settings)
    log.info("starting", extra={"port": settings.http_port})
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        lifespan="on",
        # Whose X-Forwarded-For to believe (a public service's FORWARDED_ALLOW_IPS setting;
        # uvicorn's own default, loopback only, for the rest).
        forwarded_allow_ips=getattr(settings, "forwarded_allow_ips", None),
    )
    _Server(config, settings.shutdown_grace_s).run()
