"""Each job's state and its transitions, as pure functions over a JSON-able dict.

The SpoonOS graph (``orchestrator.graph``) strings these together into the workflow;
everything that decides *what happens* lives here so that it is unit-testable and
deterministic: no clock reads (``now`` comes in with each step), no I/O, and every event
id derived from the id of what caused it (``cause_id``) and the step, so re-processing a
record re-produces byte-identical event ids.

A job's state (``JobValues``) is what the graph checkpoints. Two kinds of key:
durable (saved with the checkpoint) and per-step inputs/outputs (``TRANSIENT_KEYS``):
``signal`` (what woke the job up), ``now``, ``cause_id``, ``route`` and ``outbox`` (the
events this step emits, keyed by event id, each ``{"topic": name, "payload": JobEvent}``).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    AnalysisRequested,
    JobEvent,
    JobStatusChanged,
    MatchCompleted,
    MatchRequested,
    ProfileAnalysis,
    ProfileSubmission,
    ProfileSubmitted,
    Recommendation,
    RecommendationsReady,
    Topic,
    derive_event_id,
)

VERSION = "0.1.0"
REQUEST_NAMESPACE = uuid.UUID("0b6f3c1e-8a0e-4f57-b1f4-4d3f1f0a7c52")

Step = Literal["analysis", "match"]
Terminal = Literal["completed", "needs_more_information", "failed"]
TRANSIENT_KEYS = frozenset({"signal", "now", "cause_id", "route", "outbox", "assembled"})

# What the user reads when a step never answers.
STEP_SUBJECT: dict[str, str] = {
    "analysis": "The profile analysis",
    "match": "The career matching",
}
PROGRESS = {"analyzing": 10, "matching": 50}


class JobValues(TypedDict, total=False):
    """The graph state. Only scalars and dicts: SpoonOS appends lists (capped at 100)."""

    job_id: str
    user_id: str
    profile: dict[str, Any]
    status: str
    sequence: int
    waiting: str | None
    attempt: int
    deadline: float | None
    analysis: dict[str, Any] | None
    analyzer_version: str | None
    matched: dict[str, Any] | None
    failure: str | None
    done: bool
    # transient (per step)
    signal: dict[str, Any] | None
    now: float
    cause_id: str
    route: str | None
    outbox: dict[str, Any]
    assembled: dict[str, Any]  # the final list, from the node that decides to the one emitting


@dataclass(frozen=True)
class Policy:
    step_timeout_s: float = 60.0
    max_rerequests: int = 2
    top_k: int = 10

    @property
    def max_attempts(self) -> int:
        return self.max_rerequests + 1


@dataclass(frozen=True)
class Decision:
    """What a waiting job does with the signal that woke it."""

    action: Literal["wait", "ignore", "accept", "rerequest", "fail"]
    reason: str = ""


# ------------------------------------------------------------------------ identities


def request_id(job_id: str, step: str) -> str:
    """Stable per job and step: every re-request carries it, so any attempt's reply fits."""
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{job_id}/{step}"))


def timeout_cause_id(job_id: str, step: str, attempt: int) -> str:
    """The cause id of a timeout: job + step + the attempt that timed out."""
    return derive_event_id(job_id, f"timeout/{step}/attempt-{attempt}")


def reply_signal(step: Step, event_id: str, request: str, payload: JobEvent) -> dict[str, Any]:
    """What wakes a job up with an agent's reply. ``payload`` is the validated event (the
    signal is transient, never stored); what the job keeps of it, ``accept_*`` takes."""
    return {
        "kind": "reply",
        "step": step,
        "eventId": event_id,
        "requestId": request,
        "payload": payload,
    }


TICK: dict[str, Any] = {"kind": "tick"}


# --------------------------------------------------------------------------- helpers


def _at(state: JobValues) -> datetime:
    return datetime.fromtimestamp(state["now"], UTC)


def _emit(state: JobValues, topic: Topic, payload: JobEvent, step: str) -> dict[str, Any]:
    """An outbox entry. ``payload`` stays the validated event: the service publishes it as
    it is and the job store serialises it (``model_dump(mode="json")``) once, when the
    step's ledger entry is saved; a stored entry read back holds that JSON instead."""
    event_id = derive_event_id(state["cause_id"], step)
    return {event_id: {"topic": topic.name, "payload": payload}}


def _status(
    state: JobValues,
    status: str,
    progress: int,
    step: str,
    message: str,
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    sequence = state.get("sequence", 0) + 1
    event = JobStatusChanged(
        job_id=state["job_id"],
        user_id=state["user_id"],
        status=status,  # type: ignore[arg-type]
        sequence=sequence,
        progress=progress,
        step=step,
        message=message,
        at=_at(state),
        **extra,
    )
    return sequence, _emit(state, TOPICS.job_status, event, f"job-status/{status}/{sequence}")


def is_waiting_due(state: JobValues, now: float) -> bool:
    deadline = state.get("deadline")
    return bool(state.get("waiting")) and deadline is not None and now >= deadline


# ------------------------------------------------------------------------ transitions


def new_job(submitted: ProfileSubmitted) -> JobValues:
    return JobValues(
        job_id=submitted.job_id,
        user_id=submitted.user_id,
        profile=submitted.profile.model_dump(mode="json"),
        status="queued",
        sequence=0,  # ingest published sequence 0 ("queued")
        waiting=None,
        attempt=0,
        deadline=None,
        analysis=None,
        analyzer_version=None,
        matched=None,
        failure=None,
        done=False,
    )


def request_step(state: JobValues, step: Step, policy: Policy) -> dict[str, Any]:
    """Ask the agent for ``step`` (again, when already waiting for it)."""
    attempt = state.get("attempt", 0) + 1 if state.get("waiting") == step else 1
    profile = ProfileSubmission.model_validate(state["profile"])
    common = {
        "job_id": state["job_id"],
        "user_id": state["user_id"],
        "request_id": request_id(state["job_id"], step),
        "attempt": attempt,
        "profile": profile,
    }
    request: JobEvent
    if step == "analysis":
        request = AnalysisRequested(**common)
        topic, status, message = TOPICS.analysis_requested, "analyzing", "Analysing your profile"
    else:
        analysis = ProfileAnalysis.model_validate(state["analysis"])
        request = MatchRequested(**common, analysis=analysis, top_k=policy.top_k)
        topic, status = TOPICS.match_requested, "matching"
        message = "Profile analysed; matching you with careers"
    if attempt > 1:
        message = (
            f"{STEP_SUBJECT[step]} is taking longer than expected; asked again "
            f"(attempt {attempt} of {policy.max_attempts})"
        )
    sequence, status_event = _status(state, status, PROGRESS[status], step, message)
    return {
        "waiting": step,
        "attempt": attempt,
        "deadline": state["now"] + policy.step_timeout_s,
        "status": status,
        "sequence": sequence,
        "outbox": {**_emit(state, topic, request, f"{step}.requested"), **status_event},
    }


def decide_wait(state: JobValues, step: Step, policy: Policy) -> Decision:
    """A job waiting for ``step`` was woken by ``state['signal']``: what now?"""
    signal = state.get("signal")
    if not signal:
        return Decision("wait")
    if signal.get("kind") == "tick":
        if not is_waiting_due(state, state["now"]):
            return Decision("wait", "not due yet")
        attempt = state.get("attempt", 1)
        if attempt < policy.max_attempts:
            return Decision("rerequest", f"no reply to attempt {attempt}")
        return Decision(
            "fail",
            f"{STEP_SUBJECT[step]} did not respond after {attempt} attempts. "
            "Please try again later.",
        )
    if signal.get("step") != step:
        return Decision("ignore", f"{signal.get('step')} reply while waiting for {step}")
    if signal.get("requestId") != request_id(state["job_id"], step):
        return Decision("ignore", "reply to a request this job did not make")
    return Decision("accept")


def accept_analysis(state: JobValues) -> dict[str, Any]:
    reply: AnalysisCompleted = state["signal"]["payload"]  # type: ignore[index]
    return {
        "analysis": reply.analysis.model_dump(mode="json"),  # durable: kept as JSON
        "analyzer_version": reply.agent_version,
        "waiting": None,
        "deadline": None,
        "attempt": 0,
        "signal": None,
        "route": "accept",
    }


def accept_match(state: JobValues) -> dict[str, Any]:
    reply: MatchCompleted = state["signal"]["payload"]  # type: ignore[index]
    return {
        # The job finishes in this step, so these never reach the store as they are (the
        # store would write them as JSON, and ``assemble`` takes either).
        "matched": {"items": list(reply.recommendations), "agentVersion": reply.agent_version},
        "waiting": None,
        "deadline": None,
        "attempt": 0,
        "signal": None,
        "route": "accept",
    }


def check_analysis(analysis: dict[str, Any]) -> str | None:
    """None when matching can go ahead; else the reason the user reads (what is missing)."""
    parsed = ProfileAnalysis.model_validate(analysis)
    blocking = [f for f in parsed.flags if f.severity == "blocking"]
    if parsed.sufficient and not blocking:
        return None
    shown = blocking or [f for f in parsed.flags if f.severity != "info"] or parsed.flags
    details = "; ".join(dict.fromkeys(f.message.strip().rstrip(".") for f in shown if f.message))
    if not details:
        details = "add your skills, experience, education or goals"
    return f"We need more information to recommend careers: {details}."


def assemble(
    items: list[Recommendation] | list[dict[str, Any]], top_k: int
) -> tuple[list[Recommendation], str | None]:
    """The final list: best first, one per occupation, at most ``top_k``, ranks 1..n."""
    recommendations = sorted(
        (
            item if isinstance(item, Recommendation) else Recommendation.model_validate(item)
            for item in items
        ),
        key=lambda r: (r.rank, -r.score),
    )
    unique: dict[str, Recommendation] = {}
    for rec in recommendations:
        unique.setdefault(rec.occupation_code, rec)
    final = [
        rec if rec.rank == rank else rec.model_copy(update={"rank": rank})
        for rank, rec in enumerate(list(unique.values())[:top_k], start=1)
    ]
    if not final:
        return [], None
    titles = [r.title for r in final[:3]]
    listed = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + f" and {titles[-1]}"
    summary = (
        f"{len(final)} {'careers match' if len(final) != 1 else 'career matches'} your profile; "
        f"the closest {'is' if len(titles) == 1 else 'are'} {listed}."
    )
    return final, summary


NO_MATCH_REASON = (
    "We could not match your profile to any occupation. Add more detail about your "
    "skills, experience and goals."
)


def pipeline_version(state: JobValues) -> str:
    """Compact: o<orchestrator>/pa<analyzer>/cm<matcher> (Convex caps the field at 64)."""
    parts = [f"o{VERSION}"]
    if state.get("analyzer_version"):
        parts.append(f"pa{state['analyzer_version']}")
    matched = state.get("matched") or {}
    if matched.get("agentVersion"):
        parts.append(f"cm{matched['agentVersion']}")
    return "/".join(parts)


def finish(
    state: JobValues,
    status: Terminal,
    *,
    recommendations: list[Recommendation] | None = None,
    summary: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The job's end: the final result (RecommendationsReady) and its terminal status."""
    recs = recommendations or []
    ready = RecommendationsReady(
        job_id=state["job_id"],
        user_id=state["user_id"],
        status=status,
        recommendations=recs,
        summary=summary,
        reason=reason,
        created_at=_at(state),
        pipeline_version=pipeline_version(state),
    )
    message = {
        "completed": f"Found {len(recs)} career recommendation{'s' if len(recs) != 1 else ''}",
        "needs_more_information": "More information is needed to recommend careers",
        "failed": "Sorry, we could not finish your recommendations",
    }[status]
    sequence, status_event = _status(
        state,
        status,
        100,
        status,
        message,
        reason=reason,
        recommendations=recs if status == "completed" else None,
        summary=summary,
    )
    return {
        "status": status,
        "sequence": sequence,
        "waiting": None,
        "deadline": None,
        "failure": reason,
        "done": True,
        "outbox": {
            **_emit(state, TOPICS.recommendations, ready, "recommendations"),
            **status_event,
        },
    }
