"""CareerMatcher as a Kafka service: the handler in process, then the real thing.

The broker test runs ``python -m career_matcher`` as a subprocess against the session's
broker, publishes a ``MatchRequested`` record twice (a re-delivery) and reads what it
produces.
"""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from career_matcher.app import (
    STEP_COMPLETED,
    MatcherService,
    agent_version,
    input_summary,
)
from career_matcher.settings import MatcherSettings
from careers_contracts import (
    TOPICS,
    AgentOutput,
    Envelope,
    MatchCompleted,
    MatchRequested,
    ProfileSubmission,
    derive_event_id,
)
from careers_runtime.agent import record_step
from careers_runtime.broker import create_broker
from careers_runtime.codec import Incoming, Outgoing, encode
from careers_runtime.settings import ServiceSettings
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.testing.records import collect_events
from profile_analyzer.domain.analyzer import analyze

# Written for these tests (not from the evaluation set): a career changer with a goal.
PROFILE = {
    "headline": "Dental assistant moving into healthcare administration",
    "summary": "Eight years chairside in a busy family dental practice; I also run the "
    "appointment book, insurance pre-authorisations and supply ordering.",
    "skills": [
        "patient scheduling",
        "insurance billing",
        "infection control",
        "radiography",
        "Dentrix",
    ],
    "experience": [
        {
            "title": "Dental Assistant",
            "organization": "Family dental practice",
            "startDate": "2017-09",
            "endDate": None,
            "description": "Prepared patients and instruments, took x-rays, managed the "
            "schedule and ordered supplies.",
        }
    ],
    "education": [{"degree": "Certificate", "field": "Dental Assisting", "graduationYear": 2017}],
    "interests": ["healthcare operations"],
    "goals": "Become a medical office or practice manager.",
}

PROFILE_TEXTS = [
    PROFILE["summary"],
    PROFILE["headline"],
    PROFILE["goals"],
    *PROFILE["skills"],
    *PROFILE["interests"],
    *(e["description"] for e in PROFILE["experience"]),
]


def _request(job_id: str, top_k: int = 5) -> MatchRequested:
    profile = ProfileSubmission.model_validate(PROFILE)
    return MatchRequested(
        job_id=job_id,
        user_id="user_matcher_test",
        request_id=f"req-{job_id}",
        profile=profile,
        analysis=analyze(profile, as_of="2025-11"),
        top_k=top_k,
    )


def _incoming(payload: MatchRequested, event_id: str = "evt-1") -> Incoming[MatchRequested]:
    envelope = Envelope(
        id=event_id,
        type=TOPICS.match_requested.event_type,
        source="test",
        subject=payload.job_id,
        time=datetime(2025, 11, 14, tzinfo=UTC),
        data=payload.model_dump(mode="json", by_alias=True),
    )
    return Incoming(envelope=envelope, payload=payload, topic="t", partition=0, offset=0)


# ------------------------------------------------------------------ in process


def test_input_summary_holds_counts_and_categories_but_no_profile_text() -> None:
    summary = input_summary(_request("j1", top_k=7))
    assert summary["topK"] == 7 and summary["profileSkills"] == 5 and summary["hasGoals"]
    dumped = json.dumps(summary)
    for text in PROFILE_TEXTS:
        assert text not in dumped


def test_agent_version_names_package_and_catalog_digest() -> None:
    package, data = agent_version().split("+")
    assert package.count(".") == 2 and data.startswith("catalog.") and len(data) == 16


async def test_handler_returns_completed_event_and_record_with_derived_ids() -> None:
    service = MatcherService(MatcherSettings())
    event = _incoming(_request("job-inproc", top_k=4), event_id="evt-m")
    first = await service.handle(event)
    second = await service.handle(event)
    assert [o.topic for o in first] == [TOPICS.match_completed, TOPICS.agent_outputs]
    assert [o.event_id for o in first] == [
        derive_event_id("evt-m", STEP_COMPLETED),
        derive_event_id("evt-m", record_step("career-matcher")),
    ]
    assert [o.event_id for o in second] == [o.event_id for o in first]
    completed, record = first[0].payload, first[1].payload
    assert isinstance(completed, MatchCompleted) and isinstance(record, AgentOutput)
    assert [r.rank for r in completed.recommendations] == [1, 2, 3, 4], "top_k respected"
    again = second[0].payload
    assert isinstance(again, MatchCompleted)
    assert json.dumps([r.model_dump(mode="json") for r in again.recommendations]) == json.dumps(
        [r.model_dump(mode="json") for r in completed.recommendations]
    ), "deterministic ranking"
    assert record.output["count"] == 4
    assert record.output["recommendations"][0]["occupationCode"] == (
        completed.recommendations[0].occupation_code
    )


# ------------------------------------------------------------------ real broker


@pytest.fixture(scope="module")
def matcher(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("matcher") / "matcher.log"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "HTTP_PORT": str(port),
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "CAREERS_LLM_PROVIDER": "offline",
    }
    with ServiceProcess("career_matcher", env, log_path) as process:
        process.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=90)
        yield {"bootstrap": kafka_bootstrap, "port": port, "process": process, "log": log_path}


@pytest.mark.broker
async def test_service_answers_a_request_twice_with_identical_ids_and_ranking(
    matcher: dict, unique: str
) -> None:
    job_id = f"cm-{unique}"
    value, headers = encode(
        Outgoing(TOPICS.match_requested, _request(job_id), event_id=str(uuid.uuid4())), "test"
    )
    broker = create_broker(
        ServiceSettings(kafka_bootstrap_servers=matcher["bootstrap"], service_name="test")
    )
    await broker.start()
    try:
        # The same record twice: what a consumer sees after a crash before its commit.
        for _ in range(2):
            await broker.publish(
                value, topic=TOPICS.match_requested.name, key=job_id.encode(), headers=headers
            )
    finally:
        await broker.stop()

    out = await collect_events(
        matcher["bootstrap"], [TOPICS.match_completed.name, TOPICS.agent_outputs.name], job_id, 4
    )
    completed = [e for t, e in out if t == TOPICS.match_completed.name]
    records = [e for t, e in out if t == TOPICS.agent_outputs.name]
    assert len(completed) == 2 and len(records) == 2, matcher["process"].tail()
    assert completed[0].id == completed[1].id and records[0].id == records[1].id
    assert {e.source for _, e in out} == {"career-matcher"}

    first, second = (MatchCompleted.model_validate(e.data) for e in completed)
    assert first.request_id == f"req-{job_id}" and first.agent_version == agent_version()
    assert first.model_dump_json(exclude={"duration_ms"}) == second.model_dump_json(
        exclude={"duration_ms"}
    ), "byte-identical recommendations on re-delivery"
    recs = first.recommendations
    assert [r.rank for r in recs] == [1, 2, 3, 4, 5]
    assert all(0 <= r.score <= 1 for r in recs)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    assert all(r.title in r.explanation for r in recs)
    profile_skills = {s.casefold() for s in PROFILE["skills"]}
    assert any(profile_skills & {m.casefold() for m in r.matched_skills} for r in recs)
    assert any(r.wages and r.wages.annual_median for r in recs)

    record = AgentOutput.model_validate(records[0].data)
    assert record.agent == "career-matcher" and record.status == "succeeded"
    assert record.user_id == "user_matcher_test" and record.duration_ms > 0
    assert record.output["recommendations"] == [
        r.model_dump(mode="json", by_alias=True) for r in recs
    ]
    assert (
        record.input_summary["topK"] == 5 and record.input_summary["requestId"] == first.request_id
    )
    dumped = json.dumps(record.input_summary)
    for text in PROFILE_TEXTS:
        assert text not in dumped, "input summary must not carry profile text"
    assert "Eight years chairside" not in matcher["log"].read_text()
