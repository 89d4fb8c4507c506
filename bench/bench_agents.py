"""Benchmark the two agents: in-process throughput and latency, and the services' memory.

    python bench/bench_agents.py [PATH] [--n 200] [--skip-services] [--markdown]
    make bench-agents

1. Start-up: time to load the skill vocabulary, the occupation catalog, the static
   embeddings, and to import SpoonOS and compile both graphs; RSS of this process after.
2. In process, one profile at a time on one core (``OPENBLAS_NUM_THREADS=1`` as in the
   services) (profiles cycled from the eval set,
   default ``../shared/eval/dev-profiles.json``), after one warm-up pass:
   - ``domain``: the bare functions ``analyze`` and ``recommend``;
   - ``graph``: the SpoonOS graphs ``run_analysis`` and ``run_matching`` (what the
     services run), on one event loop.
   For each agent: profiles/s (1 / mean) and p50/p99 per profile.
3. Services: ``python -m profile_analyzer`` and ``python -m career_matcher`` started against
   an embedded broker; time until ``/readyz`` is 200 (graph compiled and warmed up,
   partitions assigned) and the resident memory (VmRSS) of each process then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

AS_OF = "2025-11"
# the agent services run NumPy's BLAS single-threaded (their __main__); measure the same
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def summarise(ms: list[float]) -> dict[str, float]:
    mean = statistics.fmean(ms)
    return {
        "profilesPerS": round(1000 / mean, 1),
        "p50Ms": round(statistics.median(ms), 2),
        "p99Ms": round(pct(ms, 99), 2),
        "meanMs": round(mean, 2),
    }


def startup() -> dict[str, float]:
    t0 = time.perf_counter()
    from profile_analyzer.domain.vocabulary import load_vocabulary

    load_vocabulary()
    t1 = time.perf_counter()
    from career_matcher.domain.catalog import load_catalog

    load_catalog()
    t2 = time.perf_counter()
    from career_matcher.embeddings import load_embedder

    load_embedder()
    t3 = time.perf_counter()
    from career_matcher.graph import get_app as matcher_graph
    from profile_analyzer.graph import get_app as analyzer_graph

    analyzer_graph()
    matcher_graph()
    t4 = time.perf_counter()
    return {
        "vocabularyS": round(t1 - t0, 2),
        "catalogS": round(t2 - t1, 2),
        "embedderS": round(t3 - t2, 2),
        "spoonosImportAndCompileS": round(t4 - t3, 2),
        "rssMb": round(rss_mb(), 1),
    }


def bench_in_process(profiles: list[dict[str, Any]], n: int) -> dict[str, dict[str, Any]]:
    from career_matcher.domain.matcher import recommend
    from career_matcher.graph import run_matching
    from profile_analyzer.domain.analyzer import analyze, normalise
    from profile_analyzer.graph import run_analysis

    subs = [normalise(p) for p in profiles]
    out: dict[str, dict[str, Any]] = {}

    def timed(fn: Callable[[int], Any], count: int) -> list[float]:
        xs = []
        for i in range(count):
            t = time.perf_counter()
            fn(i)
            xs.append((time.perf_counter() - t) * 1000)
        return xs

    # bare domain functions
    analyses = [analyze(p, as_of=AS_OF) for p in subs]  # warm-up pass
    for i, p in enumerate(subs):
        recommend(analyses[i], p)
    a_ms = timed(lambda i: analyze(subs[i % len(subs)], as_of=AS_OF), n)
    m_ms = timed(lambda i: recommend(analyses[i % len(subs)], subs[i % len(subs)]), n)
    out["domain"] = {"analyzer": summarise(a_ms), "matcher": summarise(m_ms)}

    # through the SpoonOS graphs, on one loop (as in the services)
    async def graphs() -> tuple[list[float], list[float]]:
        for p in subs:  # warm-up pass
            await run_matching(await run_analysis(p, as_of=AS_OF), p)
        ga, gm = [], []
        for i in range(n):
            p = subs[i % len(subs)]
            t = time.perf_counter()
            await run_analysis(p, as_of=AS_OF)
            ga.append((time.perf_counter() - t) * 1000)
        for i in range(n):
            p, a = subs[i % len(subs)], analyses[i % len(subs)]
            t = time.perf_counter()
            await run_matching(a, p)
            gm.append((time.perf_counter() - t) * 1000)
        return ga, gm

    ga, gm = asyncio.run(graphs())
    out["graph"] = {"analyzer": summarise(ga), "matcher": summarise(gm)}
    return out


def bench_services() -> dict[str, dict[str, float]]:
    from careers_tools.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka
    from careers_tools.local_servers import free_port
    from careers_tools.processes import ServiceProcess

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedKafka() as kafka:
        procs = []
        for module in ("profile_analyzer", "career_matcher"):
            port = free_port()
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "HTTP_PORT": str(port),
                "KAFKA_SESSION_TIMEOUT_MS": "3000",
                "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                "CAREERS_LLM_PROVIDER": "offline",
                "LOG_LEVEL": "WARNING",
                **TANSU_CLIENT_ENV,
            }
            proc = ServiceProcess(module, env, Path(tmp) / f"{module}.log")
            procs.append((module, port, proc))
        try:
            # One at a time, so each start-up time is not inflated by the other's.
            for module, port, proc in procs:
                t0 = time.perf_counter()
                proc.start()
                proc.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=120)
                ready_s = time.perf_counter() - t0
                assert proc.process is not None
                results[module] = {
                    "readyS": round(ready_s, 2),
                    "rssMb": round(rss_mb(proc.process.pid), 1),
                }
        finally:
            for _, _, proc in procs:
                proc.stop()
    return results


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"Measured {res['date']} on {res['machine']}, Python {res['python']}, "
        f"{res['n']} profiles per row, one at a time.",
        "",
        "| agent | path | profiles/s | p50 ms | p99 ms | mean ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for mode in ("domain", "graph"):
        for agent in ("analyzer", "matcher"):
            r = res["inProcess"][mode][agent]
            lines.append(
                f"| {agent} | {mode} | {r['profilesPerS']} | {r['p50Ms']} | {r['p99Ms']} | "
                f"{r['meanMs']} |"
            )
    s = res["startup"]
    lines += [
        "",
        f"In-process start-up: vocabulary {s['vocabularyS']} s, catalog {s['catalogS']} s, "
        f"embeddings {s['embedderS']} s, SpoonOS import + both graphs "
        f"{s['spoonosImportAndCompileS']} s; RSS {s['rssMb']} MB.",
    ]
    if res.get("services"):
        lines += ["", "| service | start to /readyz 200 | RSS after start-up |", "|---|---:|---:|"]
        for name, r in res["services"].items():
            lines.append(f"| {name} | {r['readyS']} s | {r['rssMb']} MB |")
    return "\n".join(lines)


def main() -> int:
    import logging

    from careers_tools.evaluate import default_path

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per /readyz poll

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", type=Path, default=None, help="profiles (eval format)")
    ap.add_argument("--n", type=int, default=200, help="profiles per measurement")
    ap.add_argument("--skip-services", action="store_true", help="in-process numbers only")
    ap.add_argument("--markdown", action="store_true", help="also print a Markdown summary")
    args = ap.parse_args()

    items = json.loads((args.path or default_path()).read_text())
    profiles = [it.get("profile", it) for it in items]
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "n": args.n,
        "profiles": len(profiles),
    }
    res["startup"] = startup()
    print(f"start-up: {res['startup']}", flush=True)
    res["inProcess"] = bench_in_process(profiles, args.n)
    for mode, agents in res["inProcess"].items():
        for agent, r in agents.items():
            print(
                f"{mode:6s} {agent:8s} {r['profilesPerS']:7.1f} profiles/s  "
                f"p50 {r['p50Ms']:7.2f} ms  p99 {r['p99Ms']:7.2f} ms  mean {r['meanMs']:7.2f} ms",
                flush=True,
            )
    if not args.skip_services:
        res["services"] = bench_services()
        for name, r in res["services"].items():
            print(f"service {name}: ready in {r['readyS']} s, RSS {r['rssMb']} MB", flush=True)
    if args.markdown:
        print()
        print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
