"""Fixtures for the orchestrator's broker tests: the service as a real subprocess, and
the two agents played by the test (consuming requests, publishing contract replies)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    AnalysisRequested,
    Envelope,
    JobEvent,
    MatchCompleted,
    MatchRequested,
    ProfileAnalysis,
    ProfileSubmission,
    ProfileSubmitted,
    Recommendation,
    derive_event_id,
)
from careers_runtime.broker import create_broker
from careers_runtime.codec import Outgoing
from careers_runtime.delivery import publish_all
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_runtime.settings import ServiceSettings
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.polling import eventually
from careers_tools.testing.redis_server import delete_prefixed

CONSUMED = (TOPICS.profile_submitted, TOPICS.analysis_completed, TOPICS.match_completed)
WATCHED = (
    TOPICS.analysis_requested,
    TOPICS.match_requested,
    TOPICS.job_status,
    TOPICS.recommendations,
)


def orchestrator_process(
    bootstrap: str, workdir: Path, group: str, name: str, **env: str
) -> tuple[ServiceProcess, int]:
    port = free_port()
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HTTP_PORT": str(port),
        "ORCHESTRATOR_CONSUMER_GROUP": group,
        "ORCHESTRATOR_CHECKPOINT_PATH": str(workdir / "orchestrator.sqlite3"),
        "ORCHESTRATOR_STEP_TIMEOUT_S": "1",
        "ORCHESTRATOR_MAX_REREQUESTS": "2",
        "ORCHESTRATOR_TIMER_INTERVAL_S": "0.2",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "KAFKA_BATCH_TIMEOUT_MS": "20",
        "RETRY_BACKOFF_BASE_S": "0.1",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
    }
    process = ServiceProcess("orchestrator", base | env, workdir / f"{name}.log")
    return process, port


def start_group_at_end(bootstrap: str, group: str) -> None:
    """Commit a new group's offsets at the current end of the topics the orchestrator
    consumes, so a test's orchestrator ignores what earlier tests in the session sent
    (a new group otherwise starts from the earliest record)."""

    async def commit() -> None:
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(bootstrap), group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(t.name, p) for t in CONSUMED for p in range(t.partitions)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in ends.items()})
        finally:
            await consumer.stop()

    # in a thread of its own: callers may be inside the test's running event loop
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, commit()).result()


def wait_ready(process: ServiceProcess, port: int, timeout_s: float = 60) -> None:
    process.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=timeout_s)


@dataclass
class Seen:
    topic: str
    event_id: str
    payload: Any
    offset: int
    source: str = ""


@dataclass
class FakeAgents:
    """Plays profile-analyzer and career-matcher for jobs whose id starts with ``prefix``.

    Per job: ``analysis`` is "answer" (default), "silent" (never answers) or "twice"
    (answers, then the same reply again plus a second reply with another event id);
    ``match`` is "answer" or "hold" (answer only on ``release``).
    """

    bootstrap: str
    prefix: str
    behaviour: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    held: list[tuple[str, MatchRequested]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _consumer: AIOKafkaConsumer | None = None
    _broker: Any = None

    async def start(self) -> None:
        self._broker = create_broker(
            ServiceSettings(kafka_bootstrap_servers=self.bootstrap, service_name="fake-agents")
        )
        await self._broker.start()
        self._consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(self.bootstrap), enable_auto_commit=False
        )
        await self._consumer.start()
        partitions = [TopicPartition(t.name, p) for t in WATCHED for p in range(t.partitions)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._broker is not None:
            await self._broker.stop()

    async def publish(self, *events: Outgoing) -> None:
        await publish_all(self._broker, list(events), "test")

    async def submit(self, job_id: str, **behaviour: str) -> None:
        self.behaviour[job_id] = behaviour
        payload = ProfileSubmitted(
            job_id=job_id,
            user_id="user_test",
            submitted_at=time_now(),
            profile=ProfileSubmission(summary="Backend developer", skills=["Python", "SQL"]),
        )
        await self.publish(
            Outgoing(TOPICS.profile_submitted, payload, str(uuid.uuid5(uuid.NAMESPACE_URL, job_id)))
        )

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    # Other tests share these topics (poison records included): look only
                    # at this test's jobs, by key, before decoding anything.
                    if not (record.key or b"").startswith(self.prefix.encode()):
                        continue
                    envelope = Envelope.model_validate_json(record.value)
                    topic = TOPICS.by_name(record.topic)
                    payload = topic.payload.model_validate(envelope.data)
                    self.seen.append(
                        Seen(record.topic, envelope.id, payload, record.offset, envelope.source)
                    )
                    await self._react(envelope.id, payload)

    async def _react(self, event_id: str, payload: JobEvent) -> None:
        mode = self.behaviour.get(payload.job_id, {})
        if isinstance(payload, AnalysisRequested):
            action = mode.get("analysis", "answer")
            if action == "silent":
                return
            reply = Outgoing(
                TOPICS.analysis_completed,
                AnalysisCompleted(
                    job_id=payload.job_id,
                    user_id=payload.user_id,
                    request_id=payload.request_id,
                    analysis=ProfileAnalysis(
                        years_of_experience=5, seniority="mid", summary="ok", sufficient=True
                    ),
                    agent_version="fake-1",
                    duration_ms=1,
                ),
                derive_event_id(event_id, "analysis.completed"),
            )
            await self.publish(reply)
            if action == "twice":
                await self.publish(reply)
                other = Outgoing(reply.topic, reply.payload, derive_event_id(event_id, "again"))
                await self.publish(other)
        elif isinstance(payload, MatchRequested):
            if mode.get("match", "answer") == "hold":
                self.held.append((event_id, payload))
                return
            await self.publish(match_reply(event_id, payload))

    async def release(self, job_id: str) -> None:
        for event_id, request in [h for h in self.held if h[1].job_id == job_id]:
            await self.publish(match_reply(event_id, request))
        self.behaviour[job_id]["match"] = "answer"

    def events(self, job_id: str, topic: str) -> list[Seen]:
        return [s for s in self.seen if s.payload.job_id == job_id and s.topic == topic]

    def statuses(self, job_id: str) -> list[tuple[str, int]]:
        return [
            (s.payload.status, s.payload.sequence)
            for s in self.events(job_id, TOPICS.job_status.name)
        ]

    def terminal(self, job_id: str) -> list[Seen]:
        return [
            s
            for s in self.events(job_id, TOPICS.job_status.name)
            if s.payload.status in ("completed", "failed", "needs_more_information")
        ]

    async def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 30) -> Any:
        return await eventually(predicate, timeout_s)


def match_reply(event_id: str, request: MatchRequested) -> Outgoing:
    recs = [
        Recommendation(
            occupation_code=f"15-12{i}2.00",
            title=f"Occupation {i}",
            score=0.9 - i / 10,
            rank=i,
            explanation="fits",
        )
        for i in (1, 2)
    ]
    return Outgoing(
        TOPICS.match_completed,
        MatchCompleted(
            job_id=request.job_id,
            user_id=request.user_id,
            request_id=request.request_id,
            recommendations=recs,
            agent_version="fake-1",
            duration_ms=1,
        ),
        derive_event_id(event_id, "match.completed"),
    )


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.fixture
async def agents(kafka_bootstrap: str, unique: str) -> AsyncIterator[FakeAgents]:
    fake = FakeAgents(kafka_bootstrap, prefix=f"orch-{unique}-")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def start_orchestrator(
    kafka_bootstrap: str,
) -> Iterator[Callable[..., tuple[ServiceProcess, int]]]:
    """``start_orchestrator(workdir, group, name, **env)``: a ready orchestrator process."""
    started: list[ServiceProcess] = []

    def start(workdir: Path, group: str, name: str, **env: str) -> tuple[ServiceProcess, int]:
        if not started:
            start_group_at_end(kafka_bootstrap, group)
        process, port = orchestrator_process(kafka_bootstrap, workdir, group, name, **env)
        started.append(process.start())
        wait_ready(process, port)
        return process, port

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def orchestrator(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, str]]:
    """One orchestrator for a test module, its checkpoints in the local Redis under a
    unique key prefix: (process, its consumer group)."""
    group = f"orchestrator-test-{uuid.uuid4().hex[:8]}"
    prefix = f"test:{group}:"
    process, port = orchestrator_process(
        kafka_bootstrap,
        tmp_path_factory.mktemp("orchestrator"),
        group,
        "orchestrator",
        REDIS_URL=redis_url,
        ORCHESTRATOR_REDIS_PREFIX=prefix,
    )
    start_group_at_end(kafka_bootstrap, group)
    process.start()
    try:
        wait_ready(process, port)
        yield process, group
    finally:
        process.stop()
        delete_prefixed(redis_url, prefix)
