"""Both SpoonOS graphs end to end, equal to the bare domain pipeline."""

import asyncio

from career_matcher.graph import run_matching
from careers_tools.pipeline import recommend_profile
from profile_analyzer.domain.analyzer import normalise
from profile_analyzer.graph import run_analysis

PROFILE = {
    "summary": "I process invoices, reconcile bank accounts and prepare month-end journal entries.",
    "skills": ["QuickBooks", "accounts payable", "reconciliation"],
    "experience": [
        {
            "title": "Accounting Clerk",
            "organization": "Firm",
            "startDate": "2019-03",
            "endDate": None,
            "description": "AP/AR, reconciliations, month-end support.",
        }
    ],
    "education": [],
    "interests": [],
}


def test_graphs_end_to_end():
    async def go():
        p = normalise(PROFILE)
        analysis = await run_analysis(p, as_of="2025-11")
        return await run_matching(analysis, p, limit=5)

    recs = asyncio.run(go())
    assert recs == recommend_profile(PROFILE, as_of="2025-11", limit=5)
    assert recs[0].occupation_code.startswith(("43-3031", "13-2011", "43-3051"))
