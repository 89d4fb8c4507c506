"""Evaluate the in-process pipeline on labelled profiles: hit@5, top-1 and MRR.

    python -m careers_tools.evaluate [PATH ...] [--as-of YYYY-MM] [--json]

Without PATH it evaluates every development set: the two in ``../shared/eval/`` next to the
repository root (``dev-profiles.json``, ``dev-profiles-v2.json``) and the repository's own
sets in ``services/career-matcher/eval/`` (v3, v4, ...), each split into a *tuning* half (the
matcher may be tuned on it) and a *frozen* half (only ever measured; see that folder's
README); the frozen halves are also reported pooled. Each item is
``{"id", "accept": [O*NET-SOC prefixes], "profile": {...}}``, optionally with a
``category``; a hit is any accepted prefix among the top 5 recommendations. Results are
reported per file and per category.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from careers_tools.paths import REPO_ROOT

DEFAULT_AS_OF = "2025-11"
DEV_SETS = ("dev-profiles.json", "dev-profiles-v2.json")
# written for issue 26, each before the tuning it measures; a frozen half is never tuned on
REPO_EVAL_DIR = REPO_ROOT / "services" / "career-matcher" / "eval"
REPO_VERSIONS = ("v3", "v4", "v5")  # each split into a tuning and a frozen half
HALVES = ("tuning", "frozen")
TUNING_ONLY = ("v6",)  # more tuning data for the weakest categories, no frozen half
REPO_SETS = tuple(f"dev-profiles-{v}-{h}.json" for v in REPO_VERSIONS for h in HALVES) + tuple(
    f"dev-profiles-{v}-tuning.json" for v in TUNING_ONLY
)


def eval_dir() -> Path:
    """``../shared/eval`` beside the repository root (as on CI)."""
    return REPO_ROOT.parent / "shared" / "eval"


def default_path() -> Path:
    return eval_dir() / DEV_SETS[0]


def default_paths() -> list[Path]:
    return [eval_dir() / name for name in DEV_SETS] + [REPO_EVAL_DIR / n for n in REPO_SETS]


def _summary(rows: list[dict[str, Any]], k: int) -> dict[str, Any]:
    n = max(len(rows), 1)
    return {
        "profiles": len(rows),
        f"hit@{k}": sum(r["hit"] for r in rows),
        "top1": sum(r["firstHit"] == 1 for r in rows),
        "mrr": round(sum(r["rr"] for r in rows) / n, 4),
    }


def evaluate(items: list[dict[str, Any]], *, k: int = 5, as_of: str = DEFAULT_AS_OF) -> dict:
    from careers_tools.pipeline import recommend_profile

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
                "category": item.get("category", "general"),
                "hit": first is not None and first <= k,
                "firstHit": first,
                "rr": 1.0 / first if first else 0.0,
                "ms": round(ms, 1),
                "top": [f"{r.occupation_code} {r.title} ({r.score:.2f})" for r in recs[:k]],
            }
        )
    return summarise(rows, k)


def summarise(rows: list[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    """hit@k, top-1 and MRR of evaluated rows, overall and per category."""
    categories = sorted({r["category"] for r in rows})
    return {
        **_summary(rows, k),
        "categories": {c: _summary([r for r in rows if r["category"] == c], k) for c in categories},
        "rows": rows,
    }


def _line(name: str, s: dict[str, Any]) -> str:
    n = s["profiles"]
    return (
        f"{name:<16} hit@5 {s['hit@5']:>2}/{n:<2} ({s['hit@5'] / max(n, 1):4.0%})   "
        f"top-1 {s['top1']:>2}/{n:<2}   MRR {s['mrr']:.3f}"
    )


def table(results: dict[str, dict[str, Any]]) -> str:
    """MRR per set (columns) and category (rows), with hit@5 and top-1 in the cells."""
    names = {
        p: Path(p).name.removeprefix("dev-profiles").removesuffix(".json") or "-v1" for p in results
    }
    cats = sorted({c for r in results.values() for c in r["categories"]})
    head = f"{'':<14}" + "".join(f"{names[p].lstrip('-'):>22}" for p in results)
    lines = [head]
    for c in ["all", *cats]:
        cells = []
        for res in results.values():
            s = res if c == "all" else res["categories"].get(c)
            if not s:
                cells.append(f"{'':>22}")
                continue
            n = s["profiles"]
            cells.append(f"{s['hit@5']:>3}/{n:<2} {s['top1']:>2}/{n:<2} {s['mrr']:.3f}".rjust(22))
        lines.append(f"{c:<14}" + "".join(cells))
    lines.append(f"{'':<14}" + "cells: hit@5  top-1  MRR".rjust(22))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="hit@5 / top-1 / MRR of the career matcher")
    ap.add_argument("paths", nargs="*", type=Path, help="eval files (default: the dev sets)")
    ap.add_argument("--as-of", default=DEFAULT_AS_OF, help="reference month (YYYY-MM)")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    ap.add_argument("-q", "--quiet", action="store_true", help="summaries only")
    ap.add_argument(
        "--show-frozen",
        action="store_true",
        help="also list each profile of the frozen halves (by default only their summaries: "
        "what is never tuned on is not read profile by profile)",
    )
    args = ap.parse_args(argv)
    paths = args.paths or [p for p in default_paths() if p.exists()] or default_paths()[:1]
    results = {str(p): evaluate(json.loads(p.read_text()), as_of=args.as_of) for p in paths}
    # every frozen half pooled: the honest number (no change was tuned on any of them)
    frozen = [p for p in results if p.endswith("-frozen.json")]
    if len(frozen) > 1:
        results["-frozen-pooled"] = summarise([r for p in frozen for r in results[p]["rows"]])
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for path, res in results.items():
        hidden = path.endswith("-frozen.json") and not args.show_frozen
        if not args.quiet and not path.startswith("-") and not hidden:
            for r in res["rows"]:
                mark = "HIT " if r["hit"] else "MISS"
                print(
                    f"{mark} {r['id']:<32} [{r['category']}] first hit @{r['firstHit']}"
                    f"  ({r['ms']} ms)"
                )
                for line in r["top"]:
                    print(f"       {line}")
        print(f"\n{path}")
        print("  " + _line("all", res))
        for name, s in res["categories"].items():
            print("  " + _line(name, s))
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
