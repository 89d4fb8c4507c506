"""In-process pipeline: ProfileAnalyzer domain -> CareerMatcher domain (no Kafka)."""

from __future__ import annotations

from typing import Any

from career_matcher.domain.matcher import recommend
from careers_contracts.analysis import ProfileAnalysis, Recommendation
from careers_contracts.profile import ProfileSubmission
from profile_analyzer.domain.analyzer import analyze, normalise


def recommend_profile(
    profile: ProfileSubmission | dict[str, Any], *, as_of: str | None = None, limit: int = 10
) -> list[Recommendation]:
    p = normalise(profile)
    analysis: ProfileAnalysis = analyze(p, as_of=as_of)
    return recommend(analysis, p, limit=limit)
