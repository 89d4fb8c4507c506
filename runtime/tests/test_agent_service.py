"""AgentService: the flow both agents share (error mapping, the agent-output record)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from careers_contracts import (
    TOPICS,
    AgentOutput,
    AnalysisCompleted,
    AnalysisRequested,
    Envelope,
    ProfileSubmission,
)
from careers_contracts.analysis import ProfileAnalysis
from careers_contracts.topics import ConsumerGroup
from careers_runtime.agent import AgentService
from careers_runtime.codec import Incoming, PermanentError
from careers_runtime.settings import ServiceSettings

ANALYSIS = ProfileAnalysis(years_of_experience=3, seniority="mid", summary="s", sufficient=True)


class EchoAgent(AgentService[AnalysisRequested, ProfileAnalysis]):
    agent = "profile-analyzer"
    group = ConsumerGroup.PROFILE_ANALYZER
    request_topic = TOPICS.analysis_requested
    completed_topic = TOPICS.analysis_completed
    completed_step = "test/analysis.completed"
    verb = "analysed"

    def version(self) -> str:
        return "0.0.0+test"

    async def warm_up(self) -> None:
        return None

    async def compute_result(self, event: Incoming[AnalysisRequested]) -> ProfileAnalysis:
        return ANALYSIS

    def completed_event(
        self, request: AnalysisRequested, result: ProfileAnalysis, version: str, duration_ms: float
    ) -> AnalysisCompleted:
        return AnalysisCompleted(
            job_id=request.job_id,
            user_id=request.user_id,
            request_id=request.request_id,
            analysis=result,
            agent_version=version,
            duration_ms=duration_ms,
        )

    def input_summary(self, event: Incoming[AnalysisRequested]) -> dict[str, Any]:
        return {"skills": len(event.payload.profile.skills)}

    def output_record(self, result: ProfileAnalysis) -> dict[str, Any]:
        return {"sufficient": result.sufficient}


def _incoming(job_id: str) -> Incoming[AnalysisRequested]:
    request = AnalysisRequested(
        job_id=job_id,
        user_id="user_1",
        request_id="req-1",
        profile=ProfileSubmission(summary="Private text", skills=["Python"]),
    )
    envelope = Envelope(
        id=f"evt-{job_id}",
        type=TOPICS.analysis_requested.event_type,
        source="test",
        subject=job_id,
        time=datetime.now(UTC),
        data=request.model_dump(mode="json"),
    )
    return Incoming(
        envelope=envelope,
        payload=request,
        topic=TOPICS.analysis_requested.name,
        partition=0,
        offset=0,
    )


async def test_completed_event_and_agent_output_with_derived_ids() -> None:
    service = EchoAgent(ServiceSettings())
    first = await service.handle(_incoming("job-1"))
    again = await service.handle(_incoming("job-1"))
    assert [o.topic for o in first] == [TOPICS.analysis_completed, TOPICS.agent_outputs]
    assert [o.event_id for o in first] == [o.event_id for o in again], "deterministic ids"
    record = first[1].payload
    assert isinstance(record, AgentOutput)
    assert record.agent == "profile-analyzer" and record.status == "succeeded"
    assert record.input_summary == {"skills": 1} and "Private text" not in record.model_dump_json()
    service.compute.stop()


async def test_value_error_from_the_domain_is_permanent_other_errors_are_retried() -> None:
    service = EchoAgent(ServiceSettings())

    async def bad_value(*args: Any) -> Any:
        raise ValueError("impossible experience dates")

    async def broken(*args: Any) -> Any:
        raise OSError("disk gone")

    service.compute_result = bad_value  # type: ignore[method-assign]
    with pytest.raises(PermanentError, match="impossible experience dates"):
        await service.handle(_incoming("job-bad"))
    service.compute_result = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="OSError: disk gone") as info:
        await service.handle(_incoming("job-broken"))
    assert not isinstance(info.value, PermanentError)
    service.compute.stop()
