"""CareerMatcher as a SpoonOS ``StateGraph`` whose nodes call the pure domain functions.

retrieve -> score -> diversify -> explain -> refine -> validate

Compiled once per process (lazy singleton); the catalog and embedder load once too.
``refine`` rewrites explanation text only (offline echo by default), facts stay as scored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any, TypedDict

from careers_contracts.analysis import ProfileAnalysis, Recommendation
from careers_contracts.profile import ProfileSubmission
from careers_runtime.telemetry import traced_node

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
    from profile_analyzer.llm import refine_text

    items = state["recs"]["items"]
    # concurrently: a slow provider costs one CAREERS_LLM_TIMEOUT_S per job, not one per text
    texts = await asyncio.gather(
        *(
            refine_text(
                r.explanation,
                "Rewrite this career-match explanation for the person in plain, friendly English.",
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


def build_graph():  # -> spoon_ai.graph.CompiledGraph
    from spoon_ai.graph import InMemoryCheckpointer, StateGraph

    g = StateGraph(
        MatchState, checkpointer=InMemoryCheckpointer(max_checkpoints_per_thread=16, max_threads=64)
    )
    steps = [
        ("retrieve", _retrieve),
        ("score", _score),
        ("diversify", _diversify),
        ("explain", _explain),
        ("refine", _refine),
        ("validate", _validate),
    ]
    for name, fn in steps:
        g.add_node(name, traced_node(name, fn, component="career-matcher"))
    g.set_entry_point("retrieve")
    for (a, _), (b, _) in zip(steps, steps[1:], strict=False):
        g.add_edge(a, b)
    g.add_edge("validate", "__end__")
    return g.compile()


_app: Any = None
_lock = threading.Lock()


def get_app():
    """The compiled graph; also loads the catalog, the embedder, the ESCO title glossary and
    the spelling dictionary (start-up cost once)."""
    global _app
    if _app is None:
        # the engine logs every edge at INFO: keep per-job logs readable
        logging.getLogger("spoon_ai.graph.engine").setLevel(logging.WARNING)
        with _lock:
            if _app is None:
                load_catalog()
                load_embedder()
                load_glossary()
                load_speller()
                _app = build_graph()
    return _app


async def run_matching(
    analysis: ProfileAnalysis,
    profile: ProfileSubmission | None = None,
    *,
    limit: int = 10,
    thread_id: str | None = None,
) -> list[Recommendation]:
    """Entry point for the transport: analysis (+ profile when known) in, ranked list out."""
    app = get_app()
    tid = thread_id or f"match-{uuid.uuid4()}"
    try:
        out = await app.invoke(
            {"analysis": analysis, "profile": profile, "limit": limit},
            config={"configurable": {"thread_id": tid}},
        )
    finally:
        app.graph.checkpointer.clear_thread(tid)
    result = out.get("result")
    if not result:
        raise RuntimeError("matching graph ended without a result")
    return list(result["items"])
