"""Benchmark the two agents in process: start-up, profiles/s, p50/p99 per agent, RSS.

    python services/career-matcher/bench/bench_agents.py [--n 200] [--graph] [PATH]

Profiles are taken (cycled) from the eval set (default ../shared/eval/dev-profiles.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    from career_matcher.evaluate import default_path

    ap = argparse.ArgumentParser()
    ap.add_argument("path", nargs="?", type=Path, default=None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--graph", action="store_true", help="through the SpoonOS graphs")
    args = ap.parse_args()
    items = json.loads((args.path or default_path()).read_text())
    profiles = [it["profile"] for it in items]

    t0 = time.perf_counter()
    from career_matcher.domain.catalog import load_catalog
    from career_matcher.domain.matcher import recommend
    from career_matcher.embeddings import load_embedder
    from profile_analyzer.domain.analyzer import analyze, normalise
    from profile_analyzer.domain.vocabulary import load_vocabulary

    load_vocabulary()
    t_vocab = time.perf_counter()
    load_catalog()
    t_cat = time.perf_counter()
    load_embedder()
    t_emb = time.perf_counter()
    if args.graph:
        from career_matcher.graph import get_app as m_app
        from career_matcher.graph import run_matching
        from profile_analyzer.graph import get_app as a_app
        from profile_analyzer.graph import run_analysis

        a_app()
        m_app()
    t_ready = time.perf_counter()
    print(
        f"start-up: vocabulary {t_vocab - t0:.2f}s, catalog {t_cat - t_vocab:.2f}s, "
        f"embedder {t_emb - t_cat:.2f}s, graphs {t_ready - t_emb:.2f}s; "
        f"RSS {rss_mb():.0f} MB"
    )

    ta: list[float] = []
    tm: list[float] = []

    async def run() -> None:
        for i in range(args.n):
            p = normalise(profiles[i % len(profiles)])
            s = time.perf_counter()
            a = (
                await run_analysis(p, as_of="2025-11")
                if args.graph
                else analyze(p, as_of="2025-11")
            )
            m = time.perf_counter()
            if args.graph:
                await run_matching(a, p)
            else:
                recommend(a, p)
            e = time.perf_counter()
            ta.append((m - s) * 1000)
            tm.append((e - m) * 1000)

    w0 = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - w0
    mode = "graphs" if args.graph else "domain"
    print(f"{mode}: {args.n} profiles in {wall:.2f}s = {args.n / wall:.1f} profiles/s (1 core)")
    for name, xs in (("analyzer", ta), ("matcher", tm)):
        print(
            f"  {name:9s} p50 {statistics.median(xs):6.1f} ms  p99 {pct(xs, 99):6.1f} ms  "
            f"mean {statistics.fmean(xs):6.1f} ms"
        )
    print(f"RSS after run {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
