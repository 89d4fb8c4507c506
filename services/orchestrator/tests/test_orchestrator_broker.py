"""Through the real broker: the orchestrator runs as its own process (``python -m
orchestrator``, checkpoints in Redis) and the test plays both agents over Kafka with
contract events."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    DeadLetter,
    ProfileAnalysis,
)
from careers_contracts.topics import dead_letter_topic
from careers_runtime.codec import Outgoing
from careers_runtime.kafka_client import kafka_client_kwargs
from careers_tools.processes import ServiceProcess

pytestmark = pytest.mark.broker


async def test_job_completes_with_progress_events_in_order(
    orchestrator: tuple[ServiceProcess, str], agents: Any
) -> None:
    job = f"{agents.prefix}ok"
    await agents.submit(job)
    assert await agents.wait_for(lambda: agents.terminal(job)), orchestrator[0].tail()
    assert agents.statuses(job) == [("analyzing", 1), ("matching", 2), ("completed", 3)]
    [ready] = agents.events(job, TOPICS.recommendations.name)
    assert ready.payload.status == "completed"
    assert [r.rank for r in ready.payload.recommendations] == [1, 2]
    final = agents.terminal(job)[0].payload
    assert final.progress == 100 and final.recommendations == ready.payload.recommendations
    [request] = agents.events(job, TOPICS.analysis_requested.name)
    assert request.payload.attempt == 1


async def test_silent_analyzer_fails_the_job_after_re_requests(
    orchestrator: tuple[ServiceProcess, str], agents: Any
) -> None:
    job = f"{agents.prefix}silent"
    await agents.submit(job, analysis="silent")
    assert await agents.wait_for(lambda: agents.terminal(job), timeout_s=30), orchestrator[0].tail()
    requests = [s.payload for s in agents.events(job, TOPICS.analysis_requested.name)]
    assert [r.attempt for r in requests] == [1, 2, 3]
    assert len({r.request_id for r in requests}) == 1, "re-requests reuse the request id"
    assert agents.statuses(job) == [
        ("analyzing", 1),
        ("analyzing", 2),
        ("analyzing", 3),
        ("failed", 4),
    ]
    [ready] = agents.events(job, TOPICS.recommendations.name)
    reason = "The profile analysis did not respond after 3 attempts. Please try again later."
    assert ready.payload.status == "failed" and ready.payload.reason == reason
    assert agents.terminal(job)[0].payload.reason == reason
    assert agents.events(job, TOPICS.match_requested.name) == []


async def test_duplicate_reply_changes_nothing(
    orchestrator: tuple[ServiceProcess, str], agents: Any
) -> None:
    job = f"{agents.prefix}dup"
    # the analyzer replies, then the same record again, then a second reply (new event id)
    await agents.submit(job, analysis="twice")
    assert await agents.wait_for(lambda: agents.terminal(job)), orchestrator[0].tail()
    await asyncio.sleep(0.5)  # anything the duplicates caused would show up by now
    assert len(agents.events(job, TOPICS.match_requested.name)) == 1
    assert agents.statuses(job) == [("analyzing", 1), ("matching", 2), ("completed", 3)]
    assert len(agents.events(job, TOPICS.recommendations.name)) == 1
    ignored = [line for line in orchestrator[0].tail(400).splitlines() if "ignored" in line]
    assert len(ignored) >= 2, "both duplicates reached the orchestrator and were ignored"


async def test_reply_for_unknown_job_is_dead_lettered_with_the_reason(
    orchestrator: tuple[ServiceProcess, str], agents: Any, kafka_bootstrap: str
) -> None:
    job = f"{agents.prefix}ghost"
    reply = AnalysisCompleted(
        job_id=job,
        user_id="user_test",
        request_id="nope",
        analysis=ProfileAnalysis(
            years_of_experience=1, seniority="entry", summary="x", sufficient=True
        ),
        agent_version="fake-1",
        duration_ms=1,
    )
    await agents.publish(Outgoing(TOPICS.analysis_completed, reply, str(uuid.uuid4())))
    consumer = AIOKafkaConsumer(
        dead_letter_topic(orchestrator[1]).name,
        **kafka_client_kwargs(kafka_bootstrap),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not letters and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                letters += [
                    letter
                    for letter in (DeadLetter.model_validate_json(r.value) for r in records)
                    if letter.job_id == job
                ]
    finally:
        await consumer.stop()
    assert len(letters) == 1, orchestrator[0].tail()
    assert letters[0].error_class == "permanent"
    assert "does not know" in letters[0].error_message
    assert letters[0].original_topic == TOPICS.analysis_completed.name


def test_orchestrator_logs_no_profile_text(orchestrator: tuple[ServiceProcess, str]) -> None:
    log = Path(orchestrator[0].log_path).read_text()
    assert "Backend developer" not in log and "user_test" not in log
