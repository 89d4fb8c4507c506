"""CareerMatcher as a SpoonOS ``StateGraph`` whose nodes call the pure domain functions.

retrieve -> score -> diversify -> explain -> refine -> validate

Built, compiled and run by the agent kit's ``LinearGraph`` (once per process); the catalog
and embedder load once too. ``refine`` rewrites explanation text only (offline echo by
default, see ``careers_runtime.agent_kit.llm``), facts stay as scored.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from careers_contracts.analysis import ProfileAnalysis, Recommendation
from careers_contracts.profile import ProfileSubmission
from careers_runtime.agent_kit.graph import LinearGraph
from careers_runtime.agent_kit.settings import LLMSettings

from career_matcher.domain import matcher as dom
from career_matcher.domain.catalog import load_catalog
from career_matcher.domain.glossary import load_glossary
from career_matcher.domain.spelling import load_speller
from career_matcher.embeddings import load_embedder


class MatchState(TypedDict, total=False):
    analysis: ProfileAnalysis
    profile: ProfileSubmission | None
    limit: int
    query: dict[str, Any]
    scored: dict[str, Any]
    top: dict[str, Any]
    recs: dict[str, Any]
    result: dict[str, Any]
    llm: LLMSettings | None


async def _retrieve(state: MatchState) -> dict[str, Any]:
    return {"query": {"q": dom.build_query(state["analysis"], state.get("profile"))}}


async def _score(state: MatchState) -> dict[str, Any]:
    a = state["analysis"]
    cat = load_catalog()
    sc = dom.score_all(cat, state["query"]["q"], load_embedder(), a.seniority, a.education_level)
    return {"scored": {"sc": sc, "order": dom.rank_order(cat, sc)}}


async def _diversify(state: MatchState) -> dict[str, Any]:
    limit = state.get("limit") or 10
    order = state["scored"]["order"]
    return {"top": {"ids": dom.diversify(order[: max(limit * 5, 50)], load_catalog(), limit)}}


async def _explain(state: MatchState) -> dict[str, Any]:
    recs = dom.build_recommendations(
        load_catalog(),
        state["query"]["q"],
        state["scored"]["sc"],
        state["top"]["ids"],
        load_embedder(),
    )
    return {"recs": {"items": recs}}


async def _refine(state: MatchState) -> dict[str, Any]:
    from careers_runtime.agent_kit.llm import refine_text

    items = state["recs"]["items"]
    llm = state.get("llm")
    # concurrently: a slow provider costs one CAREERS_LLM_TIMEOUT_S per job, not one per text
    texts = await asyncio.gather(
        *(
            refine_text(
                r.explanation,
                "Rewrite this career-match explanation for the person in plain, friendly English.",
                llm,
            )
            for r in items
        )
    )
    out = [
        r if text == r.explanation else r.model_copy(update={"explanation": text})
        for r, text in zip(items, texts, strict=True)
    ]
    return {"recs": {"items": out}}


async def _validate(state: MatchState) -> dict[str, Any]:
    recs = [Recommendation.model_validate(r.model_dump()) for r in state["recs"]["items"]]
    ranks = [r.rank for r in recs]
    if ranks != list(range(1, len(recs) + 1)):
        raise ValueError(f"ranks are not 1..n: {ranks}")
    if len({r.occupation_code for r in recs}) != len(recs):
        raise ValueError("duplicate occupation in recommendations")
    return {"result": {"items": recs}}


def _load_data() -> None:
    """The catalog, the embedder, the ESCO title glossary and the spelling dictionary."""
    load_catalog()
    load_embedder()
    load_glossary()
    load_speller()


GRAPH = LinearGraph(
    MatchState,
    [
        ("retrieve", _retrieve),
        ("score", _score),
        ("diversify", _diversify),
        ("explain", _explain),
        ("refine", _refine),
        ("validate", _validate),
    ],
    component="career-matcher",
    thread_prefix="match",
    prepare=_load_data,
)


def get_app() -> Any:
    """The compiled graph; also loads the catalog, the embedder, the ESCO title glossary and
    the spelling dictionary (start-up cost once)."""
    return GRAPH.app()


async def run_matching(
    analysis: ProfileAnalysis,
    profile: ProfileSubmission | None = None,
    *,
    limit: int = 10,
    thread_id: str | None = None,
    llm: LLMSettings | None = None,
) -> list[Recommendation]:
    """Entry point for the transport: analysis (+ profile when known) in, ranked list out.

    ``llm``: the refinement's provider (a service passes its settings'; ``None`` reads
    ``CAREERS_LLM_PROVIDER`` / ``CAREERS_LLM_TIMEOUT_S`` at call time)."""
    out = await GRAPH.run(
        {"analysis": analysis, "profile": profile, "limit": limit, "llm": llm},
        thread_id=thread_id,
    )
    result = out.get("result")
    if not result:
        raise RuntimeError("matching graph ended without a result")
    return list(result["items"])
