"""The SpoonOS analysis graph runs end to end and equals the pure domain function."""

import asyncio

from careers_runtime.agent_kit import WARMUP_ANALYSIS, WARMUP_AS_OF, WARMUP_PROFILE, LLMSettings
from careers_runtime.agent_kit.llm import refine_text
from profile_analyzer.domain.analyzer import analyze
from profile_analyzer.graph import get_app, run_analysis

PROFILE = {
    "summary": "Certified MIG and TIG welder fabricating steel frames.",
    "skills": ["MIG welding", "blueprint reading"],
    "experience": [
        {
            "title": "Welder",
            "organization": "Shop",
            "startDate": "2017-09",
            "endDate": None,
            "description": "Fabricated structural steel.",
        }
    ],
    "education": [],
    "interests": [],
}


def test_graph_matches_domain_and_compiles_once():
    async def go():
        return await run_analysis(PROFILE, as_of="2025-11")

    a = asyncio.run(go())
    assert a == analyze(PROFILE, as_of="2025-11")
    assert get_app() is get_app()


def test_offline_provider_is_default_and_echoes(monkeypatch):
    monkeypatch.delenv("CAREERS_LLM_PROVIDER", raising=False)
    assert LLMSettings.from_env().offline
    assert asyncio.run(refine_text("same text", "rewrite")) == "same text"


def test_unreachable_llm_never_fails(monkeypatch):
    monkeypatch.setenv("CAREERS_LLM_PROVIDER", "no-such-provider")
    monkeypatch.setenv("CAREERS_LLM_TIMEOUT_S", "2")
    assert asyncio.run(refine_text("keep me", "rewrite")) == "keep me"


def test_unreachable_llm_passed_explicitly_never_fails(monkeypatch):
    monkeypatch.delenv("CAREERS_LLM_PROVIDER", raising=False)
    llm = LLMSettings(provider="no-such-provider", timeout_s=2)
    assert asyncio.run(refine_text("keep me", "rewrite", llm)) == "keep me"


def test_the_matchers_warmup_analysis_is_the_analysis_of_the_warmup_profile():
    assert analyze(WARMUP_PROFILE, as_of=WARMUP_AS_OF) == WARMUP_ANALYSIS
