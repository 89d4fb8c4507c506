"""The pure transition logic (no graph, broker or store)."""

from datetime import UTC, datetime

import pytest
from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    AnalysisFlag,
    JobStatusChanged,
    MatchRequested,
    ProfileAnalysis,
    ProfileSubmission,
    ProfileSubmitted,
    Recommendation,
    RecommendationsReady,
)
from orchestrator.domain import workflow as wf

POLICY = wf.Policy(step_timeout_s=30, max_rerequests=2, top_k=3)


def _job(job_id: str = "job-1") -> wf.JobValues:
    submitted = ProfileSubmitted(
        job_id=job_id,
        user_id="user_1",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary="Backend developer", skills=["Python"]),
    )
    return wf.new_job(submitted)


def _step(state: wf.JobValues, updates: dict) -> wf.JobValues:
    merged = dict(state) | {k: v for k, v in updates.items() if k != "outbox"}
    return wf.JobValues(**merged)  # type: ignore[typeddict-item]


def _analysis(sufficient: bool = True, flags: list[AnalysisFlag] | None = None) -> dict:
    return ProfileAnalysis(
        years_of_experience=4,
        seniority="mid",
        summary="A backend developer",
        sufficient=sufficient,
        flags=flags or [],
    ).model_dump(mode="json")


def _events(outbox: dict) -> dict[str, list]:
    by_topic: dict[str, list] = {}
    for event_id, item in outbox.items():
        topic = TOPICS.by_name(item["topic"])
        by_topic.setdefault(topic.name, []).append(
            (event_id, topic.payload.model_validate(item["payload"]))
        )
    return by_topic


def test_request_ids_are_stable_per_job_and_step() -> None:
    assert wf.request_id("a", "analysis") == wf.request_id("a", "analysis")
    assert wf.request_id("a", "analysis") != wf.request_id("a", "match")
    assert wf.request_id("a", "analysis") != wf.request_id("b", "analysis")
    assert wf.timeout_cause_id("a", "analysis", 1) != wf.timeout_cause_id("a", "analysis", 2)


def test_first_request_emits_request_and_progress_with_deterministic_ids() -> None:
    state = _job() | {"now": 1000.0, "cause_id": "evt-submitted"}
    updates = wf.request_step(state, "analysis", POLICY)  # type: ignore[arg-type]
    again = wf.request_step(state, "analysis", POLICY)  # type: ignore[arg-type]
    assert list(updates["outbox"]) == list(again["outbox"]), "same cause, same ids"
    events = _events(updates["outbox"])
    [(_, request)] = events[TOPICS.analysis_requested.name]
    [(_, status)] = events[TOPICS.job_status.name]
    assert request.attempt == 1 and request.request_id == wf.request_id("job-1", "analysis")
    assert isinstance(status, JobStatusChanged)
    assert (status.status, status.sequence, status.progress) == ("analyzing", 1, 10)
    assert updates["deadline"] == 1030.0 and updates["waiting"] == "analysis"


def test_rerequest_keeps_the_request_id_and_counts_attempts() -> None:
    state = _job() | {"now": 0.0, "cause_id": "c1"}
    state = _step(state, wf.request_step(state, "analysis", POLICY))  # type: ignore[arg-type]
    state = state | {"now": 31.0, "cause_id": "t1", "signal": wf.TICK}
    assert wf.decide_wait(state, "analysis", POLICY) == wf.Decision(  # type: ignore[arg-type]
        "rerequest", "no reply to attempt 1"
    )
    updates = wf.request_step(state, "analysis", POLICY)  # type: ignore[arg-type]
    events = _events(updates["outbox"])
    [(_, request)] = events[TOPICS.analysis_requested.name]
    [(_, status)] = events[TOPICS.job_status.name]
    assert request.attempt == 2 and request.request_id == wf.request_id("job-1", "analysis")
    assert status.sequence == 2 and "attempt 2 of 3" in status.message
    assert updates["deadline"] == 61.0


def test_timeouts_fail_after_the_last_attempt_with_a_readable_reason() -> None:
    state = _job() | {"now": 0.0, "waiting": "analysis", "attempt": 3, "deadline": 10.0}
    early = state | {"now": 9.0, "signal": wf.TICK}
    assert wf.decide_wait(early, "analysis", POLICY).action == "wait"  # type: ignore[arg-type]
    due = state | {"now": 10.0, "signal": wf.TICK}
    decision = wf.decide_wait(due, "analysis", POLICY)  # type: ignore[arg-type]
    assert decision.action == "fail"
    assert decision.reason.startswith("The profile analysis did not respond after 3 attempts")


def test_replies_that_do_not_fit_are_ignored() -> None:
    state = _job() | {"now": 0.0, "waiting": "match", "attempt": 1, "deadline": 30.0}
    reply = AnalysisCompleted(
        job_id="job-1",
        user_id="user_1",
        request_id=wf.request_id("job-1", "analysis"),
        analysis=ProfileAnalysis.model_validate(_analysis()),
        agent_version="1",
        duration_ms=1,
    )
    late = state | {"signal": wf.reply_signal("analysis", "e1", reply.request_id, reply)}
    assert wf.decide_wait(late, "match", POLICY).action == "ignore"  # type: ignore[arg-type]
    stranger = state | {"signal": wf.reply_signal("match", "e2", "not-ours", reply)}
    assert wf.decide_wait(stranger, "match", POLICY).action == "ignore"  # type: ignore[arg-type]
    ours = state | {
        "signal": wf.reply_signal("match", "e3", wf.request_id("job-1", "match"), reply)
    }
    assert wf.decide_wait(ours, "match", POLICY).action == "accept"  # type: ignore[arg-type]


def test_sparse_profile_reason_lists_what_is_missing() -> None:
    assert wf.check_analysis(_analysis()) is None
    flags = [
        AnalysisFlag(
            code="sparse_profile", message="Add at least three skills.", severity="blocking"
        ),
        AnalysisFlag(
            code="no_experience", message="Describe your work history", severity="warning"
        ),
        AnalysisFlag(code="note", message="Dates look fine", severity="info"),
    ]
    reason = wf.check_analysis(_analysis(sufficient=False, flags=flags))
    assert reason == "We need more information to recommend careers: Add at least three skills."
    warned = wf.check_analysis(_analysis(sufficient=False, flags=flags[1:]))
    assert warned is not None and "Describe your work history" in warned
    assert "Dates look fine" not in warned
    # sufficient, but a blocking flag still stops matching
    assert wf.check_analysis(_analysis(sufficient=True, flags=flags[:1])) is not None
    assert "skills" in (wf.check_analysis(_analysis(sufficient=False)) or "")


def test_match_request_carries_the_analysis_and_top_k() -> None:
    state = _job() | {"now": 5.0, "cause_id": "ac1", "analysis": _analysis(), "sequence": 1}
    updates = wf.request_step(state, "match", POLICY)  # type: ignore[arg-type]
    events = _events(updates["outbox"])
    [(_, request)] = events[TOPICS.match_requested.name]
    [(_, status)] = events[TOPICS.job_status.name]
    assert isinstance(request, MatchRequested) and request.top_k == 3
    assert request.analysis.summary == "A backend developer"
    assert (status.status, status.sequence, status.progress) == ("matching", 2, 50)


def _rec(code: str, rank: int, score: float, title: str | None = None) -> dict:
    return Recommendation(
        occupation_code=code, title=title or code, score=score, rank=rank, explanation="x"
    ).model_dump(mode="json")


def test_assemble_ranks_dedupes_and_caps() -> None:
    items = [
        _rec("B", 2, 0.8, "Data Scientists"),
        _rec("A", 1, 0.9, "Software Developers"),
        _rec("A", 3, 0.7),
        _rec("C", 4, 0.6, "Statisticians"),
        _rec("D", 5, 0.5),
    ]
    final, summary = wf.assemble(items, top_k=3)
    assert [(r.occupation_code, r.rank) for r in final] == [("A", 1), ("B", 2), ("C", 3)]
    assert summary == (
        "3 careers match your profile; the closest are Software Developers, Data Scientists "
        "and Statisticians."
    )
    assert wf.assemble([], top_k=3) == ([], None)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("completed", None), ("needs_more_information", "Add skills."), ("failed", "Timed out.")],
)
def test_finish_emits_result_and_terminal_status(status: str, reason: str | None) -> None:
    state = _job() | {"now": 9.0, "cause_id": "mc1", "sequence": 2, "analyzer_version": "a1"}
    recs, summary = wf.assemble([_rec("A", 1, 0.9)], 3) if status == "completed" else ([], None)
    updates = wf.finish(
        state,  # type: ignore[arg-type]
        status,  # type: ignore[arg-type]
        recommendations=recs,
        summary=summary,
        reason=reason,
    )
    events = _events(updates["outbox"])
    [(_, ready)] = events[TOPICS.recommendations.name]
    [(_, final)] = events[TOPICS.job_status.name]
    assert isinstance(ready, RecommendationsReady)
    assert ready.status == status and ready.reason == reason
    assert ready.pipeline_version == "o0.1.0/paa1"
    assert (final.status, final.sequence, final.progress, final.reason) == (status, 3, 100, reason)
    if status == "completed":
        assert final.recommendations == recs and final.summary == summary
    else:
        assert final.recommendations is None
    assert updates["done"] is True and updates["deadline"] is None
