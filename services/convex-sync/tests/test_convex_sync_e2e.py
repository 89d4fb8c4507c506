"""End to end: events on the real broker -> convex-sync (a real process) -> the local
Convex stand-in (a real Node process), then read back through Convex's public queries
with signed user tokens.

Shows: documents arrive once (in per-job order); duplicates leave one document; a run of
503s and 429s delays but loses nothing, and while Convex is down convex-sync stops
consuming (one bounded batch in flight) instead of buffering; a 400 lands in the
dead-letter topic with Convex's reason; queries return only the caller's documents.
"""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from careers_contracts import (
    TOPICS,
    AgentOutput,
    JobEvent,
    Recommendation,
    RecommendationsReady,
    Topic,
)
from careers_runtime.broker import create_broker
from careers_runtime.codec import Outgoing
from careers_runtime.delivery import publish_all
from careers_runtime.settings import ServiceSettings
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.convex_standin import ConvexStandin
from careers_tools.testing.dead_letters import wait_for_dead_letters
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.broker

MAX_BATCH = 8
MAX_IN_FLIGHT = 4
# agent-outputs + recommendations + the group's retry topic
EXPECTED_PARTITIONS = TOPICS.agent_outputs.partitions + TOPICS.recommendations.partitions + 6


class Sync:
    def __init__(self, process: ServiceProcess, port: int, group: str, bootstrap: str) -> None:
        self.process = process
        self.port = port
        self.group = group
        self.bootstrap = bootstrap

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total


@pytest.fixture(scope="module")
def sync(
    kafka_bootstrap: str, convex_standin: ConvexStandin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sync]:
    workdir = tmp_path_factory.mktemp("convex-sync")
    group = f"convex-sync-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "HTTP_PORT": str(port),
        "CONVEX_SITE_URL": convex_standin.url,
        "CONVEX_SYNC_SECRET": convex_standin.secret,
        "CONVEX_SYNC_CONSUMER_GROUP": group,
        "CONVEX_TIMEOUT_S": "2",
        "CONVEX_MAX_RETRY_S": "20",
        "CONVEX_BACKOFF_BASE_S": "0.1",
        "CONVEX_BACKOFF_MAX_S": "0.5",
        "HANDLER_TIMEOUT_S": "30",
        "KAFKA_MAX_BATCH_RECORDS": str(MAX_BATCH),
        "MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "RETRY_BACKOFF_BASE_S": "0.2",
        "LOG_LEVEL": "INFO",
    }
    process = ServiceProcess("convex_sync", env, workdir / "convex-sync.log").start()
    try:
        process.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
        deadline = time.monotonic() + 60
        assigned = 0
        while time.monotonic() < deadline:
            assigned = httpx.get(f"http://127.0.0.1:{port}/readyz").json()["assignedPartitions"]
            if assigned >= EXPECTED_PARTITIONS:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"convex-sync never got its partitions ({assigned})\n{process.tail()}")
        yield Sync(process, port, group, kafka_bootstrap)
    finally:
        convex_standin.clear_faults()
        # uvicorn re-raises SIGTERM once its graceful shutdown is complete.
        assert process.stop() in (0, -15), f"SIGTERM handled\n{process.tail()}"
        log_text = Path(workdir / "convex-sync.log").read_text()
        assert "Application shutdown complete" in log_text, process.tail()
        assert convex_standin.secret not in log_text, "the service secret is never logged"


@pytest.fixture
def convex(convex_standin: ConvexStandin) -> Iterator[ConvexStandin]:
    convex_standin.clear_faults()
    yield convex_standin
    convex_standin.clear_faults()


# ------------------------------------------------------------------ helpers

T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


def agent_output(job_id: str, user_id: str, agent: str, **overrides: Any) -> AgentOutput:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "user_id": user_id,
        "agent": agent,
        "agent_version": "1.0.0",
        "status": "succeeded",
        "input_summary": {"skills": 4},
        "output": {"agent": agent},
        "started_at": T0,
        "finished_at": T0 + timedelta(milliseconds=250),
        "duration_ms": 250.0,
    }
    fields.update(overrides)
    return AgentOutput.model_validate(fields)


def ready(job_id: str, user_id: str) -> RecommendationsReady:
    return RecommendationsReady(
        job_id=job_id,
        user_id=user_id,
        status="completed",
        recommendations=[
            Recommendation(
                occupation_code="15-1252.00",
                title="Software Developers",
                score=0.9,
                rank=1,
                explanation="Builds software",
                matched_skills=["python"],
            )
        ],
        summary="done",
        created_at=T0,
        pipeline_version="0.1.0",
    )


def out(topic: Topic, payload: JobEvent, step: str) -> Outgoing:
    return Outgoing(topic, payload, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{payload.job_id}/{step}")))


async def publish(bootstrap: str, events: list[Outgoing]) -> None:
    broker = create_broker(ServiceSettings(kafka_bootstrap_servers=bootstrap, service_name="test"))
    await broker.start()
    try:
        await publish_all(broker, events, "test")
    finally:
        await broker.stop()


async def wait_for(predicate: Callable[[], Any], timeout_s: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(predicate)
        if result:
            return result
        await asyncio.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def by_job(convex: ConvexStandin, table: str, job_ids: set[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for doc in convex.documents(table):
        if doc["jobId"] in job_ids:
            found.setdefault(doc["jobId"], []).append(doc)
    return found


async def dead_letters(bootstrap: str, group: str, job_id: str, timeout_s: float = 20) -> list:
    return await wait_for_dead_letters(bootstrap, group, job_id, timeout_s)


# -------------------------------------------------------------------- tests


async def test_documents_arrive_once_in_job_order_and_duplicates_leave_one(
    sync: Sync, convex: ConvexStandin, unique: str
) -> None:
    user = f"user_{unique}"
    jobs = [f"e2e-{unique}-{i}" for i in range(6)]
    existing_before = sync.metric(
        "convex_sync_documents_total", endpoint="/agent-outputs", result="existing"
    )
    analyzer = [
        out(TOPICS.agent_outputs, agent_output(j, user, "profile-analyzer"), "pa") for j in jobs
    ]
    await publish(sync.bootstrap, analyzer)
    await publish(
        sync.bootstrap,
        [out(TOPICS.agent_outputs, agent_output(j, user, "career-matcher"), "cm") for j in jobs]
        + [out(TOPICS.recommendations, ready(j, user), "rec") for j in jobs],
    )
    # Duplicates: the same event re-delivered (same id), and a re-run of the agent (new
    # event id, same job and agent) with different content.
    rerun = agent_output(jobs[0], user, "profile-analyzer", agent_version="9.9.9")
    await publish(sync.bootstrap, [analyzer[0], out(TOPICS.agent_outputs, rerun, "pa-rerun")])

    ids = set(jobs)
    await wait_for(
        lambda: (
            sum(len(v) for v in by_job(convex, "agentOutputs", ids).values()) >= 12
            and len(by_job(convex, "careerRecommendations", ids)) == 6
        ),
        what="12 agent outputs and 6 recommendations",
    )
    await wait_for(
        lambda: (
            sync.metric("convex_sync_documents_total", endpoint="/agent-outputs", result="existing")
            >= existing_before + 2
        ),
        what="both duplicates confirmed by Convex as existing",
    )
    outputs = by_job(convex, "agentOutputs", ids)
    recs = by_job(convex, "careerRecommendations", ids)
    for job_id in jobs:
        docs = sorted(outputs[job_id], key=lambda d: d["_creationTime"])
        assert [d["agent"] for d in docs] == ["profile-analyzer", "career-matcher"], job_id
        assert [d["idempotencyKey"] for d in docs] == [
            f"{job_id}/profile-analyzer",
            f"{job_id}/career-matcher",
        ]
        assert len(recs[job_id]) == 1 and recs[job_id][0]["idempotencyKey"] == job_id
        assert docs[0]["startedAt"] == "2025-06-01T09:30:00Z"
        assert len(docs[0]["traceId"]) == 32, "trace id of the consuming span"
    first = next(d for d in outputs[jobs[0]] if d["agent"] == "profile-analyzer")
    assert first["agentVersion"] == "1.0.0", "first write wins over the re-run"


async def test_public_queries_return_only_the_callers_documents(
    sync: Sync, convex: ConvexStandin, unique: str
) -> None:
    alice, bob = f"user_alice_{unique}", f"user_bob_{unique}"
    job_a, job_b = f"q-{unique}-a", f"q-{unique}-b"
    await publish(
        sync.bootstrap,
        [
            out(TOPICS.agent_outputs, agent_output(job_a, alice, "profile-analyzer"), "pa"),
            out(TOPICS.recommendations, ready(job_a, alice), "rec"),
            out(TOPICS.agent_outputs, agent_output(job_b, bob, "profile-analyzer"), "pa"),
            out(TOPICS.recommendations, ready(job_b, bob), "rec"),
        ],
    )
    await wait_for(
        lambda: (
            len(by_job(convex, "careerRecommendations", {job_a, job_b})) == 2
            and len(by_job(convex, "agentOutputs", {job_a, job_b})) == 2
        ),
        what="both users' documents",
    )
    alice_token, bob_token = convex.token(alice), convex.token(bob)

    mine = convex.query("agentOutputs:listByJob", {"jobId": job_a}, token=alice_token)
    assert [(d["jobId"], d["userId"]) for d in mine] == [(job_a, alice)]
    rec = convex.query("careerRecommendations:getByJob", {"jobId": job_a}, token=alice_token)
    assert rec["userId"] == alice and rec["recommendations"][0]["occupationCode"] == "15-1252.00"

    # Bob asking for Alice's job sees what a missing job looks like: nothing.
    assert convex.query("agentOutputs:listByJob", {"jobId": job_a}, token=bob_token) == []
    assert convex.query("careerRecommendations:getByJob", {"jobId": job_a}, token=bob_token) is None
    bobs = convex.query("careerRecommendations:listMine", {}, token=bob_token)
    assert {d["userId"] for d in bobs} == {bob} and [d["jobId"] for d in bobs] == [job_b]
    # Not signed in: empty, not an error.
    assert convex.query("agentOutputs:listByJob", {"jobId": job_a}) == []
    assert convex.query("careerRecommendations:getByJob", {"jobId": job_a}) is None


async def test_convex_down_pauses_consumption_then_a_run_of_503_and_429_loses_nothing(
    sync: Sync, convex: ConvexStandin, unique: str
) -> None:
    user = f"user_{unique}"
    jobs = [f"down-{unique}-{i}" for i in range(40)]
    topic = TOPICS.agent_outputs.name
    consumed_before = sync.metric("careers_messages_consumed_total", topic=topic, group=sync.group)
    failures_before = sync.metric("convex_sync_responses_total", status="503")

    convex.inject_faults(503, count=100_000)  # Convex is down
    await publish(
        sync.bootstrap,
        [out(TOPICS.agent_outputs, agent_output(j, user, "career-matcher"), "cm") for j in jobs],
    )
    await wait_for(
        lambda: sync.metric("convex_sync_responses_total", status="503") >= failures_before + 20,
        what="convex-sync retrying against the outage",
    )
    await asyncio.sleep(1.5)
    # Back-pressure: one fetched batch is held (retrying), nothing more is taken in.
    consumed = sync.metric("careers_messages_consumed_total", topic=topic, group=sync.group)
    assert 0 < consumed - consumed_before <= MAX_BATCH, consumed - consumed_before
    assert sync.metric("careers_in_flight", group=sync.group) <= MAX_IN_FLIGHT
    assert by_job(convex, "agentOutputs", set(jobs)) == {}, "nothing confirmed while down"

    # Convex comes back, but rate-limits and sheds load for a while.
    convex.clear_faults()
    convex.inject_faults(429, count=6, retry_after=1)
    convex.inject_faults(503, count=10, retry_after=0.5)
    convex.inject_faults(0, count=3)  # and a few dropped connections
    await wait_for(
        lambda: len(by_job(convex, "agentOutputs", set(jobs))) == len(jobs),
        timeout_s=40,
        what="every document after the outage",
    )
    docs = by_job(convex, "agentOutputs", set(jobs))
    assert all(len(v) == 1 for v in docs.values()), "exactly one document per job"
    assert convex.pending_faults()["faults"] == [], "the injected run was used up"
    assert (
        sync.metric("careers_messages_dead_lettered_total", topic=topic, group=sync.group) == 0
    ), "nothing dead-lettered"


async def test_a_document_convex_rejects_is_dead_lettered_with_the_reason(
    sync: Sync, convex: ConvexStandin, unique: str
) -> None:
    user = f"user_{unique}"
    job_id = f"dlq-{unique}"
    # The Python contract accepts any dict; Convex refuses '$' field names (400).
    bad = agent_output(job_id, user, "profile-analyzer", output={"$set": {"x": 1}})
    good = agent_output(job_id, user, "career-matcher")
    await publish(sync.bootstrap, [out(TOPICS.agent_outputs, bad, "pa")])
    await publish(sync.bootstrap, [out(TOPICS.agent_outputs, good, "cm")])

    letters = await dead_letters(sync.bootstrap, sync.group, job_id)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.error_class == "permanent"
    assert letter.error_type == "ConvexRejectedError"
    assert "answered 400" in letter.error_message
    assert "output.$set: field names must not start with '$'" in letter.error_message
    assert letter.original_topic == TOPICS.agent_outputs.name
    assert len(letter.attempts) == 1, "a permanent error is not retried"
    # The partition keeps flowing: the job's next event is written.
    docs = await wait_for(
        lambda: by_job(convex, "agentOutputs", {job_id}).get(job_id), what="the good event"
    )
    assert [d["agent"] for d in docs] == ["career-matcher"]


async def test_a_batch_with_one_bad_document_writes_the_good_ones_and_dead_letters_the_bad(
    sync: Sync, convex: ConvexStandin, unique: str
) -> None:
    user = f"user_{unique}"
    good_jobs = [f"batch-{unique}-{i}" for i in range(3)]
    bad_job = f"batch-bad-{unique}"
    events = [
        out(TOPICS.agent_outputs, agent_output(j, user, "profile-analyzer"), "pa")
        for j in good_jobs
    ]
    # Valid for the Python contract; Convex refuses '$' field names (400, for it alone).
    bad = agent_output(bad_job, user, "career-matcher", output={"$inc": {"x": 1}})
    events.insert(1, out(TOPICS.agent_outputs, bad, "cm"))
    events.append(out(TOPICS.recommendations, ready(good_jobs[0], user), "rec"))
    requests_before = sync.metric(
        "convex_sync_request_duration_seconds_count", endpoint="/sync/batch"
    )
    await publish(sync.bootstrap, events)

    letters = await dead_letters(sync.bootstrap, sync.group, bad_job)
    assert len(letters) == 1
    letter = letters[0]
    assert letter.error_class == "permanent"
    assert letter.error_type == "ConvexRejectedError"
    assert "answered 400" in letter.error_message
    assert "output.$inc: field names must not start with '$'" in letter.error_message
    assert len(letter.attempts) == 1, "a permanent error is not retried"

    docs = await wait_for(
        lambda: (
            len(by_job(convex, "agentOutputs", set(good_jobs))) == len(good_jobs)
            and by_job(convex, "careerRecommendations", {good_jobs[0]})
        ),
        what="the good documents",
    )
    assert docs
    assert all(len(v) == 1 for v in by_job(convex, "agentOutputs", set(good_jobs)).values())
    assert by_job(convex, "agentOutputs", {bad_job}) == {}
    requests = (
        sync.metric("convex_sync_request_duration_seconds_count", endpoint="/sync/batch")
        - requests_before
    )
    assert 1 <= requests < len(events), f"{len(events)} documents in {requests} request(s)"
