"""ProfileAnalyzer as a SpoonOS ``StateGraph`` whose nodes call the pure domain functions.

normalise -> extract_skills -> experience -> flags -> summarise -> refine -> validate

Built, compiled and run by the agent kit's ``LinearGraph`` (once per process). ``refine``
rewrites the summary text through the LLM provider in ``llm`` (offline echo by default, see
``careers_runtime.agent_kit.llm``). State values are dicts/objects, never top-level lists
(SpoonOS appends lists).
"""

from __future__ import annotations

from typing import Any, TypedDict

from careers_contracts.analysis import ProfileAnalysis
from careers_contracts.profile import ProfileSubmission
from careers_runtime.agent_kit.graph import LinearGraph
from careers_runtime.agent_kit.settings import LLMSettings

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
    llm: LLMSettings | None


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
    from careers_runtime.agent_kit.llm import refine_text

    text = await refine_text(
        state["summary"],
        "Rewrite this profile summary for the person, "
        "in the second person, in at most 4 sentences.",
        state.get("llm"),
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


GRAPH = LinearGraph(
    AnalysisState,
    [
        ("normalise", _normalise),
        ("extract_skills", _extract_skills),
        ("experience", _experience),
        ("flags", _flags),
        ("summarise", _summarise),
        ("refine", _refine),
        ("validate", _validate),
    ],
    component="profile-analyzer",
    thread_prefix="analysis",
)


def get_app() -> Any:
    """The compiled graph (once per process)."""
    return GRAPH.app()


async def run_analysis(
    profile: ProfileSubmission | dict[str, Any],
    *,
    as_of: str | None = None,
    thread_id: str | None = None,
    llm: LLMSettings | None = None,
) -> ProfileAnalysis:
    """Entry point for the transport: one profile in, one validated analysis out.

    ``llm``: the refinement's provider (a service passes its settings'; ``None`` reads
    ``CAREERS_LLM_PROVIDER`` / ``CAREERS_LLM_TIMEOUT_S`` at call time)."""
    out = await GRAPH.run({"raw": profile, "as_of": as_of or "", "llm": llm}, thread_id=thread_id)
    analysis = out.get("analysis")
    if not isinstance(analysis, ProfileAnalysis):  # a graph that ended early is an error
        raise RuntimeError(f"analysis graph ended without a result: {out.get('error')}")
    return analysis
