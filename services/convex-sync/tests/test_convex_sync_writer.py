"""ConvexWriter over real HTTP against the local Convex stand-in (a real Node process).

Covers the write contract without Kafka: confirmed writes, duplicates, retries of 503/429
honouring Retry-After, transport errors and timeouts, permanent 4xx, and the bounded
retry budget; each test twice, through ``POST /sync/batch`` (the default) and one request
per document (``CONVEX_BATCH_MAX_DOCUMENTS=0``). Then what only batches do: concurrent
writes in one request, a bad document among good ones, a deployment without the action.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from careers_contracts import AgentOutput, Recommendation, RecommendationsReady
from careers_runtime.codec import PermanentError
from careers_tools.testing.convex_standin import ConvexStandin
from convex_sync import convex_http, metrics
from convex_sync.batcher import ConvexBatcher
from convex_sync.domain.documents import (
    BATCH_PATH,
    agent_output_document,
    recommendations_document,
)
from convex_sync.settings import ConvexSyncSettings
from convex_sync.writer import ConvexRejectedError, ConvexUnavailableError, ConvexWriter
from prometheus_client import REGISTRY

AGENT_PATH = "/agent-outputs"
MODE = {"batch": True}


# Tests of batching itself run in the batch mode only (their own parametrisation overrides
# the fixture's two modes).
BATCHES_ONLY = pytest.mark.parametrize("mode", ["batch"], indirect=True)


@pytest.fixture(params=["batch", "single"], autouse=True)
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    MODE["batch"] = request.param == "batch"
    yield request.param
    MODE["batch"] = True


def fault_paths() -> list[str]:
    """Where an injected fault hits this mode's requests."""
    return [BATCH_PATH] if MODE["batch"] else [AGENT_PATH]


@pytest.fixture
def convex(convex_standin: ConvexStandin) -> Iterator[ConvexStandin]:
    convex_standin.clear_faults()
    yield convex_standin
    convex_standin.clear_faults()


def make_settings(convex: ConvexStandin, **overrides: object) -> ConvexSyncSettings:
    fields: dict[str, object] = {
        "convex_site_url": convex.url,
        "convex_sync_secret": convex.secret,
        "convex_timeout_s": 2.0,
        "convex_max_retry_s": 8.0,
        "convex_backoff_base_s": 0.05,
        "convex_backoff_max_s": 0.2,
        "convex_batch_max_documents": 64 if MODE["batch"] else 0,
    }
    fields.update(overrides)
    return ConvexSyncSettings.model_validate(fields)


@pytest.fixture
async def writer(convex: ConvexStandin) -> AsyncIterator[ConvexWriter]:
    w = ConvexWriter(make_settings(convex))
    await w.start()
    yield w
    await w.aclose()


def output_event(job_id: str, **overrides: object) -> AgentOutput:
    now = datetime.now(UTC)
    fields: dict[str, object] = {
        "job_id": job_id,
        "user_id": "user_w",
        "agent": "profile-analyzer",
        "agent_version": "1.0.0",
        "status": "succeeded",
        "output": {"skills": ["python"]},
        "started_at": now,
        "finished_at": now,
        "duration_ms": 12.5,
    }
    fields.update(overrides)
    return AgentOutput.model_validate(fields)


def docs_for(convex: ConvexStandin, table: str, job_id: str) -> list[dict]:
    return [d for d in convex.documents(table) if d["jobId"] == job_id]


def counter(name: object, *labels: str) -> float:
    return float(name.labels(*labels)._value.get())  # type: ignore[attr-defined]


def job() -> str:
    return f"w-{uuid.uuid4().hex[:10]}"


async def test_confirmed_write_then_duplicate_leaves_one_document(
    writer: ConvexWriter, convex: ConvexStandin
) -> None:
    job_id = job()
    existing_before = counter(metrics.DOCUMENTS, AGENT_PATH, "existing")
    first = await writer.write(agent_output_document(output_event(job_id), "cd" * 16))
    again = await writer.write(agent_output_document(output_event(job_id, duration_ms=99)))
    assert first.created and not again.created and first.id == again.id
    docs = docs_for(convex, "agentOutputs", job_id)
    assert len(docs) == 1
    assert docs[0]["durationMs"] == 12.5, "first write wins"
    assert docs[0]["traceId"] == "cd" * 16
    assert counter(metrics.DOCUMENTS, AGENT_PATH, "existing") == existing_before + 1


async def test_recommendations_round_trip(writer: ConvexWriter, convex: ConvexStandin) -> None:
    job_id = job()
    event = RecommendationsReady(
        job_id=job_id,
        user_id="user_w",
        status="completed",
        recommendations=[
            Recommendation(
                occupation_code="15-2051.00",
                title="Data Scientists",
                score=0.7,
                rank=1,
                explanation="",
            )
        ],
        created_at=datetime.now(UTC),
        # longer than Convex's 64-character limit (the orchestrator joins three versions)
        pipeline_version="orchestrator-0.1.0; profile-analyzer-0.1.0+vocab.1a2b3c4d; "
        "career-matcher-0.1.0+catalog.5e6f7a8b",
    )
    result = await writer.write(recommendations_document(event))
    assert result.created
    (doc,) = docs_for(convex, "careerRecommendations", job_id)
    assert doc["recommendations"][0]["occupationCode"] == "15-2051.00"
    assert doc["idempotencyKey"] == job_id
    assert len(doc["pipelineVersion"]) == 64 and doc["pipelineVersion"].endswith("~")


async def test_503_and_429_are_retried_honouring_retry_after(
    writer: ConvexWriter, convex: ConvexStandin
) -> None:
    job_id = job()
    retries_before = counter(metrics.RETRIES, AGENT_PATH, "503") + counter(
        metrics.RETRIES, AGENT_PATH, "429"
    )
    convex.inject_faults(503, count=2, retry_after=0.4, paths=fault_paths())
    convex.inject_faults(429, count=1, retry_after=0.6, paths=fault_paths())
    started = time.monotonic()
    result = await writer.write(agent_output_document(output_event(job_id)))
    elapsed = time.monotonic() - started
    assert result.created and result.attempts == 4
    # Backoff alone is <= 0.2 s per wait here; Retry-After makes it 0.4 + 0.4 + 0.6.
    assert elapsed >= 1.4, f"Retry-After honoured (took {elapsed:.2f}s)"
    assert elapsed < 5
    assert len(docs_for(convex, "agentOutputs", job_id)) == 1
    retries = counter(metrics.RETRIES, AGENT_PATH, "503") + counter(
        metrics.RETRIES, AGENT_PATH, "429"
    )
    assert retries == retries_before + 3


async def test_transport_errors_and_timeouts_are_retried(convex: ConvexStandin) -> None:
    w = ConvexWriter(make_settings(convex, convex_timeout_s=0.3))
    await w.start()
    try:
        job_id = job()
        convex.inject_faults(0, count=2, paths=fault_paths())  # connection reset
        convex.inject_faults(503, count=1, delay_ms=1500, paths=fault_paths())  # > timeout
        result = await w.write(agent_output_document(output_event(job_id)))
        assert result.created and result.attempts == 4
        assert counter(metrics.RETRIES, AGENT_PATH, "Timeout") >= 1
        assert len(docs_for(convex, "agentOutputs", job_id)) == 1
    finally:
        await w.aclose()


async def test_400_is_permanent_with_convex_reason(
    writer: ConvexWriter, convex: ConvexStandin
) -> None:
    job_id = job()
    # Valid for the Python contract, rejected by the Convex validator ('$' field names).
    event = output_event(job_id, output={"$where": "1"})
    with pytest.raises(ConvexRejectedError) as caught:
        await writer.write(agent_output_document(event))
    assert isinstance(caught.value, PermanentError), "the runtime dead-letters it"
    assert caught.value.status == 400
    assert "must not start with '$'" in str(caught.value)
    assert docs_for(convex, "agentOutputs", job_id) == []


async def test_wrong_secret_is_permanent_and_not_logged(
    convex: ConvexStandin, caplog: pytest.LogCaptureFixture
) -> None:
    w = ConvexWriter(make_settings(convex, convex_sync_secret="wrong-secret-value"))
    await w.start()
    try:
        with pytest.raises(ConvexRejectedError) as caught:
            await w.write(agent_output_document(output_event(job())))
    finally:
        await w.aclose()
    assert caught.value.status == 401
    assert "CONVEX_SYNC_SECRET" in caplog.text
    assert "wrong-secret-value" not in caplog.text + str(caught.value)


async def test_budget_exhausted_raises_a_retryable_error(convex: ConvexStandin) -> None:
    w = ConvexWriter(make_settings(convex, convex_max_retry_s=0.5))
    await w.start()
    try:
        convex.inject_faults(503, count=1000, paths=fault_paths())
        started = time.monotonic()
        with pytest.raises(ConvexUnavailableError, match="HTTP 503") as caught:
            await w.write(agent_output_document(output_event(job())))
        elapsed = time.monotonic() - started
    finally:
        await w.aclose()
    assert not isinstance(caught.value, PermanentError), "retry topic, not dead letter"
    assert 0.3 <= elapsed < 1.5, f"bounded by CONVEX_MAX_RETRY_S (took {elapsed:.2f}s)"


async def test_retry_after_beyond_the_budget_gives_up_at_once(convex: ConvexStandin) -> None:
    w = ConvexWriter(make_settings(convex, convex_max_retry_s=2))
    await w.start()
    try:
        convex.inject_faults(429, count=1, retry_after=30, paths=fault_paths())
        started = time.monotonic()
        with pytest.raises(ConvexUnavailableError, match="HTTP 429"):
            await w.write(agent_output_document(output_event(job())))
        assert time.monotonic() - started < 1, "no pointless wait inside the handler"
    finally:
        await w.aclose()


def requests(path: str, status: str = "200") -> float:
    value = REGISTRY.get_sample_value(
        "convex_sync_request_duration_seconds_count", {"endpoint": path, "status": status}
    )
    return value or 0.0


@BATCHES_ONLY
async def test_concurrent_writes_go_in_one_request_and_a_bad_document_fails_alone(
    writer: ConvexWriter, convex: ConvexStandin, mode: str
) -> None:
    job_id = job()
    good = [
        agent_output_document(output_event(job_id, agent="profile-analyzer")),
        agent_output_document(output_event(job_id, agent="career-matcher")),
        recommendations_document(
            RecommendationsReady(
                job_id=job_id,
                user_id="user_w",
                status="completed",
                recommendations=[],
                created_at=datetime.now(UTC),
                pipeline_version="1",
            )
        ),
    ]
    # Valid for the Python contract, rejected by the Convex validator ('$' field names).
    bad = agent_output_document(output_event(f"{job_id}-bad", output={"$where": "1"}))
    before = requests(BATCH_PATH)
    results = await asyncio.gather(
        *(writer.write(w) for w in [good[0], bad, good[1], good[2]]), return_exceptions=True
    )
    assert requests(BATCH_PATH) == before + 1, "four writes, one request"
    rejected = results[1]
    assert isinstance(rejected, ConvexRejectedError)
    assert rejected.status == 400
    assert "output.$where: field names must not start with '$'" in str(rejected)
    assert all(getattr(r, "created", False) for r in results[0:1] + results[2:]), results
    assert {d["agent"] for d in docs_for(convex, "agentOutputs", job_id)} == {
        "profile-analyzer",
        "career-matcher",
    }
    assert len(docs_for(convex, "careerRecommendations", job_id)) == 1
    assert docs_for(convex, "agentOutputs", f"{job_id}-bad") == []


@BATCHES_ONLY
async def test_a_failed_batch_request_retries_every_document(
    writer: ConvexWriter, convex: ConvexStandin, mode: str
) -> None:
    jobs = [job() for _ in range(5)]
    convex.inject_faults(503, count=1, retry_after=0.3, paths=[BATCH_PATH])
    started = time.monotonic()
    results = await asyncio.gather(
        *(writer.write(agent_output_document(output_event(j))) for j in jobs)
    )
    assert time.monotonic() - started >= 0.3, "Retry-After honoured"
    assert all(r.created and r.attempts == 2 for r in results)
    assert all(len(docs_for(convex, "agentOutputs", j)) == 1 for j in jobs)


@BATCHES_ONLY
async def test_batches_are_split_by_size(convex: ConvexStandin, mode: str) -> None:
    w = ConvexWriter(make_settings(convex, convex_batch_max_documents=2))
    await w.start()
    try:
        before = requests(BATCH_PATH)
        jobs = [job() for _ in range(5)]
        await asyncio.gather(*(w.write(agent_output_document(output_event(j))) for j in jobs))
        assert requests(BATCH_PATH) == before + 3
        assert all(len(docs_for(convex, "agentOutputs", j)) == 1 for j in jobs)
    finally:
        await w.aclose()


@BATCHES_ONLY
async def test_a_deployment_without_the_batch_action_gets_one_request_per_document(
    convex: ConvexStandin, mode: str
) -> None:
    w = ConvexWriter(make_settings(convex))
    await w.start()
    try:
        convex.inject_faults(404, count=1, paths=[BATCH_PATH])
        jobs = [job() for _ in range(3)]
        results = await asyncio.gather(
            *(w.write(agent_output_document(output_event(j))) for j in jobs)
        )
        assert all(r.created for r in results)
        assert not w.batcher.batching
        assert all(len(docs_for(convex, "agentOutputs", j)) == 1 for j in jobs)
    finally:
        await w.aclose()


@BATCHES_ONLY
async def test_a_lone_document_is_a_child_span_a_batch_links_to_its_records(
    convex: ConvexStandin, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(convex_http, "tracer", provider.get_tracer("convex"))
    records = provider.get_tracer("records")
    w = ConvexWriter(make_settings(convex))
    await w.start()

    async def consume(name: str) -> None:
        with records.start_as_current_span(name):
            await w.write(agent_output_document(output_event(job())))

    try:
        await consume("alone")
        await asyncio.gather(consume("first"), consume("second"))
    finally:
        await w.aclose()
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans if s.name in ("alone", "first", "second")}
    posts = [s for s in spans if s.name == f"POST {BATCH_PATH}"]
    assert len(posts) == 2
    alone, both = posts
    assert alone.parent is not None
    assert alone.parent.span_id == by_name["alone"].context.span_id
    assert both.parent is None
    assert {link.context.span_id for link in both.links} == {
        by_name["first"].context.span_id,
        by_name["second"].context.span_id,
    }


@BATCHES_ONLY
def test_a_batch_answer_without_one_result_per_document_confirms_nothing(mode: str) -> None:
    from convex_sync.convex_http import ConvexResponse

    for body in (b'{"nope":1}', b'{"results":[{"status":200,"id":"a","created":true}]}', b"<"):
        response = ConvexResponse(200, {}, body, "utf-8")
        answers = ConvexBatcher._results(response, 2)
        assert answers == [response, response]
    ok = b'{"results":[{"status":200,"id":"a","created":true},{"status":400,"reason":"r"}]}'
    first, second = ConvexBatcher._results(ConvexResponse(200, {}, ok, "utf-8"), 2)
    assert (first.status, first.data["id"]) == (200, "a")
    assert second.status == 400 and b'"reason":"r"' in second.body
