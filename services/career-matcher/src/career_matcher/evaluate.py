"""Evaluate the in-process pipeline on labelled profiles: hit@5 and MRR.

    python -m career_matcher.evaluate [PATH] [--as-of YYYY-MM] [--json]

PATH defaults to ``../shared/eval/dev-profiles.json`` next to the repository root. Each
item is ``{"id", "accept": [O*NET-SOC prefixes], "profile": {...}}``; a hit is any
accepted prefix among the top 5 recommendations.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_AS_OF = "2025-11"


def default_path() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "eval" / "dev-profiles.json"
        if (parent / ".git").exists() or (parent / "uv.lock").exists():
            return cand
        if cand.exists():
            return cand
    return Path.cwd().parent / "shared" / "eval" / "dev-profiles.json"


def evaluate(items: list[dict[str, Any]], *, k: int = 5, as_of: str = DEFAULT_AS_OF) -> dict:
    from career_matcher.pipeline import recommend_profile

    rows = []
    for item in items:
        t0 = time.perf_counter()
        recs = recommend_profile(item["profile"], as_of=as_of, limit=max(k, 10))
        ms = (time.perf_counter() - t0) * 1000
        codes = [r.occupation_code for r in recs]
        first = next(
            (i + 1 for i, c in enumerate(codes) if any(c.startswith(a) for a in item["accept"])),
            None,
        )
        rows.append(
            {
                "id": item["id"],
                "hit": first is not None and first <= k,
                "firstHit": first,
                "rr": 1.0 / first if first else 0.0,
                "ms": round(ms, 1),
                "top": [f"{r.occupation_code} {r.title} ({r.score:.2f})" for r in recs[:k]],
            }
        )
    hits = sum(r["hit"] for r in rows)
    return {
        "profiles": len(rows),
        f"hit@{k}": hits,
        "mrr": round(sum(r["rr"] for r in rows) / max(len(rows), 1), 4),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="hit@5 / MRR of the career matcher")
    ap.add_argument("path", nargs="?", type=Path, default=None)
    ap.add_argument("--as-of", default=DEFAULT_AS_OF, help="reference month (YYYY-MM)")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = ap.parse_args(argv)
    path = args.path or default_path()
    items = json.loads(path.read_text())
    res = evaluate(items, as_of=args.as_of)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    for r in res["rows"]:
        mark = "HIT " if r["hit"] else "MISS"
        print(f"{mark} {r['id']:<24} first hit @{r['firstHit']}  ({r['ms']} ms)")
        for line in r["top"]:
            print(f"       {line}")
    print(f"\nhit@5 = {res['hit@5']}/{res['profiles']}   MRR = {res['mrr']:.3f}   ({path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
