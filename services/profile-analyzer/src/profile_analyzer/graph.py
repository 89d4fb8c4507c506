"""ProfileAnalyzer as a SpoonOS ``StateGraph`` whose nodes call the pure domain functions.

normalise -> extract_skills -> experience -> flags -> summarise -> refine -> validate

Compiled once per process (lazy singleton). ``refine`` rewrites the summary text through
the configured LLM provider (offline echo by default, see ``profile_analyzer.llm``).
State values are dicts/objects, never top-level lists (SpoonOS appends lists).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, TypedDict

from careers_contracts.analysis import ProfileAnalysis
from careers_contracts.profile import ProfileSubmission
from careers_runtime.telemetry import traced_node

from profile_analyzer.domain import analyzer as dom


class AnalysisState(TypedDict, total=False):
    raw: Any
    as_of: str
    profile: ProfileSubmission
    skills: dict[str, Any]
    facts: dict[str, Any]
    flags: dict[str, Any]
    summary: str
    analysis: ProfileAnalysis
    error: str


async def _normalise(state: AnalysisState) -> dict[str, Any]:
    return {
        "profile": dom.normalise(state["raw"]),
        "as_of": state.get("as_of") or dom.current_month(),
    }


async def _extract_skills(state: AnalysisState) -> dict[str, Any]:
    return {"skills": {"items": dom.extract_skills(state["profile"])}}


async def _experience(state: AnalysisState) -> dict[str, Any]:
    p, as_of = state["profile"], state["as_of"]
    facts = dom.experience_facts(p, as_of)
    return {
        "facts": {
            "facts": facts,
            "seniority": dom.seniority(p, facts.years, as_of),
            "education": dom.education_level(p),
            "domains": dom.domains(p),
        }
    }


async def _flags(state: AnalysisState) -> dict[str, Any]:
    f = state["facts"]
    return {
        "flags": {
            "items": dom.flags(
                state["profile"], f["facts"], state["skills"]["items"], state["as_of"]
            )
        }
    }


async def _summarise(state: AnalysisState) -> dict[str, Any]:
    f = state["facts"]
    return {
        "summary": dom.summarise(
            state["profile"],
            f["facts"].years,
            f["seniority"],
            f["education"],
            state["skills"]["items"],
            f["domains"],
        )
    }


async def _refine(state: AnalysisState) -> dict[str, Any]:
    from profile_analyzer.llm import refine_text

    text = await refine_text(
        state["summary"],
        "Rewrite this profile summary for the person, "
        "in the second person, in at most 4 sentences.",
    )
    return {"summary": text}


async def _validate(state: AnalysisState) -> dict[str, Any]:
    f = state["facts"]
    p = state["profile"]
    flags = state["flags"]["items"]
    analysis = ProfileAnalysis(
        skills=state["skills"]["items"],
        years_of_experience=f["facts"].years,
        seniority=f["seniority"],
        domains=f["domains"],
        interests=list(p.interests),
        goals=p.goals,
        education_level=f["education"],
        summary=state["summary"],
        flags=flags,
        sufficient=not any(fl.severity == "blocking" for fl in flags),
    )
    return {"analysis": ProfileAnalysis.model_validate(analysis.model_dump())}


def build_graph():  # -> spoon_ai.graph.CompiledGraph
    from spoon_ai.graph import InMemoryCheckpointer, StateGraph

    g = StateGraph(
        AnalysisState,
        checkpointer=InMemoryCheckpointer(max_checkpoints_per_thread=16, max_threads=64),
    )
    steps = [
        ("normalise", _normalise),
        ("extract_skills", _extract_skills),
        ("experience", _experience),
        ("flags", _flags),
        ("summarise", _summarise),
        ("refine", _refine),
        ("validate", _validate),
    ]
    for name, fn in steps:
        g.add_node(name, traced_node(name, fn, component="profile-analyzer"))
    g.set_entry_point("normalise")
    for (a, _), (b, _) in zip(steps, steps[1:], strict=False):
        g.add_edge(a, b)
    g.add_edge("validate", "__end__")
    return g.compile()


_app: Any = None
_lock = threading.Lock()


def get_app():
    global _app
    if _app is None:
        # the engine logs every edge at INFO: keep per-job logs readable
        logging.getLogger("spoon_ai.graph.engine").setLevel(logging.WARNING)
        with _lock:
            if _app is None:
                _app = build_graph()
    return _app


async def run_analysis(
    profile: ProfileSubmission | dict[str, Any],
    *,
    as_of: str | None = None,
    thread_id: str | None = None,
) -> ProfileAnalysis:
    """Entry point for the transport: one profile in, one validated analysis out."""
    app = get_app()
    tid = thread_id or f"analysis-{uuid.uuid4()}"
    try:
        out = await app.invoke(
            {"raw": profile, "as_of": as_of or ""}, config={"configurable": {"thread_id": tid}}
        )
    finally:
        app.graph.checkpointer.clear_thread(tid)
    analysis = out.get("analysis")
    if not isinstance(analysis, ProfileAnalysis):  # a graph that ended early is an error
        raise RuntimeError(f"analysis graph ended without a result: {out.get('error')}")
    return analysis
