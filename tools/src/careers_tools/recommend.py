"""Run ProfileAnalyzer + CareerMatcher in process and print the result as JSON.

    python -m careers_tools.recommend PROFILE.json [--limit N] [--as-of YYYY-MM] [--graph]

PROFILE.json is the HTTP body of ``POST /v1/agents/analyze`` (camelCase), or an eval item
with a ``profile`` key. ``--graph`` runs the two SpoonOS graphs instead of the bare domain
functions (same output).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profile", type=Path)
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--as-of", default=None, help="reference month YYYY-MM (default: now)")
    ap.add_argument("--graph", action="store_true", help="run the SpoonOS graphs")
    args = ap.parse_args(argv)

    if not args.profile.is_file():
        ap.error(f"no such profile file: {args.profile}")
    try:
        raw = json.loads(args.profile.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        ap.error(f"{args.profile} is not JSON: {exc}")
    if isinstance(raw, dict) and "profile" in raw and "summary" not in raw:
        raw = raw["profile"]

    from career_matcher.domain.matcher import recommend
    from profile_analyzer.domain.analyzer import analyze, normalise

    profile = normalise(raw)
    if args.graph:
        from career_matcher.graph import run_matching
        from profile_analyzer.graph import run_analysis

        async def go():  # one event loop for both graphs
            analysis = await run_analysis(profile, as_of=args.as_of)
            return analysis, await run_matching(analysis, profile, limit=args.limit)

        analysis, recs = asyncio.run(go())
    else:
        analysis = analyze(profile, as_of=args.as_of)
        recs = recommend(analysis, profile, limit=args.limit)
    out = {
        "analysis": analysis.model_dump(mode="json", by_alias=True),
        "recommendations": [r.model_dump(mode="json", by_alias=True) for r in recs],
    }
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
