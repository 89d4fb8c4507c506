"""The workflow graph driven through the service layer, on real SQLite and real Redis.

No broker here (that is ``test_orchestrator_broker.py``): records are handed to the
handlers the way the runtime does, with their coordinates, so re-delivery, duplicates,
restarts and timeouts can be driven step by step with a controlled clock.
"""

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    AnalysisFlag,
    Envelope,
    JobEvent,
    MatchCompleted,
    ProfileAnalysis,
    ProfileSubmission,
    ProfileSubmitted,
    Recommendation,
    Topic,
)
from careers_runtime.codec import Incoming, Outgoing, PermanentError
from careers_runtime.partitioner import partition_of
from careers_tools.testing.redis_server import delete_prefixed
from orchestrator.domain import workflow as wf
from orchestrator.graph import Workflow
from orchestrator.service import Orchestrator
from orchestrator.store import (
    PARTITIONS,
    ConflictError,
    JobRecord,
    RedisJobStore,
    SqliteJobStore,
)

POLICY = wf.Policy(step_timeout_s=10, max_rerequests=2, top_k=5)
_offsets = itertools.count(1)


@pytest.fixture(scope="module")
def workflow() -> Workflow:
    return Workflow(POLICY)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # the stores expire markers on the real clock

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
async def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    prefix = f"test:orch:{uuid.uuid4().hex[:8]}:"
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    opened: list[Any] = []

    async def make() -> SqliteJobStore | RedisJobStore:
        store: SqliteJobStore | RedisJobStore = (
            SqliteJobStore(tmp_path / "orchestrator.sqlite3")
            if request.param == "sqlite"
            else RedisJobStore(redis_url, prefix)
        )
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    if redis_url:
        delete_prefixed(redis_url, prefix)


class Harness:
    def __init__(self, workflow: Workflow, store: Any, clock: Clock) -> None:
        self.published: list[Outgoing] = []

        async def publish(events: Sequence[Outgoing]) -> None:
            self.published.extend(events)

        self.store = store
        self.clock = clock
        self.orch = Orchestrator(workflow, store, publish=publish, finished_ttl_s=60, clock=clock)


@pytest.fixture
async def harness(workflow: Workflow, store_factory: Any) -> Harness:
    return Harness(workflow, await store_factory(), Clock())


def incoming(topic: Topic, payload: JobEvent, event_id: str | None = None) -> Incoming[Any]:
    envelope = Envelope(
        id=event_id or str(uuid.uuid4()),
        type=topic.event_type,
        source="test",
        subject=payload.job_id,
        data=payload.model_dump(mode="json"),
    )
    return Incoming(
        envelope=envelope, payload=payload, topic=topic.name, partition=0, offset=next(_offsets)
    )


def submitted(job_id: str) -> Incoming[ProfileSubmitted]:
    return incoming(
        TOPICS.profile_submitted,
        ProfileSubmitted(
            job_id=job_id,
            user_id="user_1",
            submitted_at=datetime.now(UTC),
            profile=ProfileSubmission(summary="Backend developer", skills=["Python", "SQL"]),
        ),
    )


def analysis_reply(job_id: str, *, sufficient: bool = True, **kw: Any) -> Incoming[Any]:
    flags = (
        []
        if sufficient
        else [
            AnalysisFlag(
                code="sparse_profile", message="Add your work history", severity="blocking"
            )
        ]
    )
    return incoming(
        TOPICS.analysis_completed,
        AnalysisCompleted(
            job_id=job_id,
            user_id="user_1",
            request_id=kw.get("request_id", wf.request_id(job_id, "analysis")),
            analysis=ProfileAnalysis(
                years_of_experience=5,
                seniority="mid",
                summary="Backend developer",
                sufficient=sufficient,
                flags=flags,
            ),
            agent_version="pa-1",
            duration_ms=12,
        ),
        kw.get("event_id"),
    )


def match_reply(job_id: str, event_id: str | None = None) -> Incoming[Any]:
    recs = [
        Recommendation(
            occupation_code=f"15-12{i}2.00",
            title=f"Job {i}",
            score=0.9 - i / 10,
            rank=i,
            explanation="fits",
        )
        for i in (1, 2, 3)
    ]
    return incoming(
        TOPICS.match_completed,
        MatchCompleted(
            job_id=job_id,
            user_id="user_1",
            request_id=wf.request_id(job_id, "match"),
            recommendations=recs,
            agent_version="cm-1",
            duration_ms=40,
        ),
        event_id,
    )


def by_topic(events: Sequence[Outgoing], topic: Topic) -> list[Any]:
    return [e.payload for e in events if e.topic.name == topic.name]


def statuses(events: Sequence[Outgoing]) -> list[tuple[str, int]]:
    return [(p.status, p.sequence) for p in by_topic(events, TOPICS.job_status)]


async def test_job_completes_with_progress_in_order(harness: Harness, workflow: Workflow) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    out = list(await harness.orch.handle_submitted(submitted(job)))
    [request] = by_topic(out, TOPICS.analysis_requested)
    assert request.attempt == 1
    out += await harness.orch.handle_analysis(analysis_reply(job))
    [match_request] = by_topic(out, TOPICS.match_requested)
    assert match_request.analysis.summary == "Backend developer"
    out += await harness.orch.handle_match(match_reply(job))
    assert statuses(out) == [("analyzing", 1), ("matching", 2), ("completed", 3)]
    [ready] = by_topic(out, TOPICS.recommendations)
    assert ready.status == "completed" and [r.rank for r in ready.recommendations] == [1, 2, 3]
    assert ready.pipeline_version == "o0.1.0/papa-1/cmcm-1"
    final = by_topic(out, TOPICS.job_status)[-1]
    assert final.recommendations == ready.recommendations and final.summary == ready.summary
    record = await harness.store.load(job)
    assert record is not None and record.finished and record.status == "completed"
    assert record.checkpoint is None, "the profile is not kept once the job is done"
    assert workflow.checkpointer.open_threads == 0, "no per-job memory between steps"


async def test_sparse_profile_needs_more_information_without_matching(harness: Harness) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    await harness.orch.handle_submitted(submitted(job))
    out = await harness.orch.handle_analysis(analysis_reply(job, sufficient=False))
    assert by_topic(out, TOPICS.match_requested) == []
    [ready] = by_topic(out, TOPICS.recommendations)
    assert ready.status == "needs_more_information"
    assert ready.reason == "We need more information to recommend careers: Add your work history."
    assert statuses(out) == [("needs_more_information", 2)]


async def test_redelivery_after_a_crash_re_emits_identical_events(harness: Harness) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    await harness.orch.handle_submitted(submitted(job))
    reply = analysis_reply(job)
    first = await harness.orch.handle_analysis(reply)
    # same record again (the process died after saving, before the offset was committed)
    again = await harness.orch.handle_analysis(reply)
    assert [(e.event_id, e.payload) for e in again] == [(e.event_id, e.payload) for e in first]
    # the same event on another offset is a genuine duplicate: nothing happens
    duplicate = incoming(TOPICS.analysis_completed, reply.payload, reply.event_id)
    assert await harness.orch.handle_analysis(duplicate) == ()
    record = await harness.store.load(job)
    assert record is not None and record.status == "matching"


async def test_duplicate_and_foreign_replies_change_nothing(harness: Harness) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    await harness.orch.handle_submitted(submitted(job))
    await harness.orch.handle_analysis(analysis_reply(job))
    before = await harness.store.load(job)
    # the analyzer answered a re-request too: new event id, same request id
    assert await harness.orch.handle_analysis(analysis_reply(job)) == ()
    assert await harness.orch.handle_analysis(analysis_reply(job, request_id="other")) == ()
    after = await harness.store.load(job)
    assert before is not None and after is not None and after.version == before.version
    done = await harness.orch.handle_match(match_reply(job))
    assert len(by_topic(done, TOPICS.recommendations)) == 1
    # late replies to a finished job are ignored, not dead-lettered
    assert await harness.orch.handle_match(match_reply(job)) == ()
    assert await harness.orch.handle_submitted(submitted(job)) == ()


async def test_reply_for_unknown_job_is_a_permanent_error(harness: Harness) -> None:
    with pytest.raises(PermanentError, match="does not know"):
        await harness.orch.handle_analysis(analysis_reply(f"ghost-{uuid.uuid4().hex[:6]}"))


async def test_timeouts_re_request_then_fail_with_reason(harness: Harness) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    await harness.orch.handle_submitted(submitted(job))
    harness.clock.now += 5
    assert await harness.orch.check_timeouts(None) == 0, "not due yet"
    harness.clock.now += 6
    assert await harness.orch.check_timeouts(set()) == 0, "no partitions owned"
    others = set(range(PARTITIONS)) - {partition_of(job, PARTITIONS)}
    assert await harness.orch.check_timeouts(others) == 0, "not this replica's job"
    assert harness.published == []
    for attempt in (2, 3):
        assert await harness.orch.check_timeouts(None) == 1
        [request] = by_topic(harness.published, TOPICS.analysis_requested)[-1:]
        assert request.attempt == attempt and request.request_id == wf.request_id(job, "analysis")
        harness.clock.now += 10
    assert await harness.orch.check_timeouts(None) == 1
    [ready] = by_topic(harness.published, TOPICS.recommendations)
    assert ready.status == "failed"
    assert (
        ready.reason
        == "The profile analysis did not respond after 3 attempts. Please try again later."
    )
    assert statuses(harness.published) == [("analyzing", 2), ("analyzing", 3), ("failed", 4)]
    assert await harness.store.due(harness.clock.now + 1000, 10) == []
    # the analyzer finally answers: ignored safely
    assert await harness.orch.handle_analysis(analysis_reply(job)) == ()


async def test_late_reply_to_first_attempt_is_accepted_once(harness: Harness) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    await harness.orch.handle_submitted(submitted(job))
    harness.clock.now += 11
    await harness.orch.check_timeouts(None)  # attempt 2 sent
    out = await harness.orch.handle_analysis(analysis_reply(job))  # reply to attempt 1
    assert len(by_topic(out, TOPICS.match_requested)) == 1
    assert await harness.orch.handle_analysis(analysis_reply(job)) == ()  # reply to attempt 2


async def test_a_restarted_orchestrator_continues_from_the_checkpoint(
    workflow: Workflow, store_factory: Any
) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    first = Harness(workflow, await store_factory(), Clock())
    await first.orch.handle_submitted(submitted(job))
    await first.store.close()
    second = Harness(workflow, await store_factory(), Clock())  # fresh connection, same data
    out = list(await second.orch.handle_analysis(analysis_reply(job)))
    out += await second.orch.handle_match(match_reply(job))
    assert statuses(out) == [("matching", 2), ("completed", 3)]


async def test_store_compare_and_set(store_factory: Any) -> None:
    store = await store_factory()
    job = f"job-{uuid.uuid4().hex[:8]}"
    await store.save(JobRecord(job_id=job, deadline=5.0), expected_version=0, ttl_s=60)
    with pytest.raises(ConflictError):
        await store.save(JobRecord(job_id=job), expected_version=0, ttl_s=60)
    record = await store.load(job)
    assert record.version == 1 and await store.due(10.0, 10) == [job]
    record.status = "matching"
    await store.save(record, expected_version=1, ttl_s=60)
    with pytest.raises(ConflictError):
        await store.save(record, expected_version=1, ttl_s=60)  # a stale writer loses
    record.finished_at = 0.0  # finished long ago: marker already expired
    await store.save(record, expected_version=2, ttl_s=0.001)
    assert await store.due(10.0, 10) == []
    await store.purge(10.0)
    if isinstance(store, SqliteJobStore):
        assert await store.load(job) is None


async def test_due_reads_only_the_owned_partitions(store_factory: Any) -> None:
    """Before, the sweep took the 200 most overdue jobs of the whole cluster and then kept
    its own: another replica's backlog hid this replica's timeouts."""
    store = await store_factory()
    jobs = [f"job-{uuid.uuid4().hex[:8]}" for _ in range(40)]
    for index, job in enumerate(jobs):
        await store.save(JobRecord(job_id=job, deadline=1.0 + index), expected_version=0, ttl_s=60)
    mine = {partition_of(jobs[-1], PARTITIONS)}  # the least overdue job's partition
    expected = [j for j in jobs if partition_of(j, PARTITIONS) in mine]
    assert await store.due(100.0, 3, mine) == expected[:3]
    assert await store.due(100.0, 100, mine) == expected
    assert await store.due(100.0, 5) == jobs[:5]  # every partition: most overdue first


async def test_sqlite_store_waits_for_another_writers_lock_off_the_event_loop(
    tmp_path: Path,
) -> None:
    """Loads and saves run inline, never waiting for a lock: while another process holds
    the file's write lock, a save moves to the store's thread and lands when it is free."""
    import asyncio
    import sqlite3
    import threading

    store = SqliteJobStore(tmp_path / "orchestrator.sqlite3")
    await store.open()
    try:
        job = f"job-{uuid.uuid4().hex[:8]}"
        await store.save(JobRecord(job_id=job), expected_version=0, ttl_s=60)
        other = sqlite3.connect(
            tmp_path / "orchestrator.sqlite3", isolation_level=None, check_same_thread=False
        )
        other.execute("BEGIN IMMEDIATE")  # another replica holds the write lock
        threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
        record = await store.load(job)  # reads never wait in WAL mode
        assert record is not None
        started = time.monotonic()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        running = asyncio.create_task(ticker())
        await store.save(record, expected_version=1, ttl_s=60)
        running.cancel()
        assert time.monotonic() - started >= 0.2, "the save waited for the lock"
        assert ticks >= 5, "the event loop kept running meanwhile"
        loaded = await store.load(job)
        assert loaded is not None and loaded.version == 2
        other.close()
    finally:
        await store.close()
