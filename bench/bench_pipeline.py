"""End-to-end benchmark: submit -> both Convex documents present.

Starts its own stack (embedded broker, Convex stand-in, every service its own process, on
free ports — it does not disturb a running `make dev`), then:

1. Baseline, same run: the two agents called in-process, sequentially (profiles/s and CPU
   ms per profile) — the agents' own cost.
2. Open-loop load at a few rates (profiles/s) for a fixed duration each: sustained
   throughput and p50/p95/p99 end-to-end latency (submit -> careerRecommendations and both
   agentOutputs written in Convex, from the documents' _creationTime).
3. Saturation: a burst submitted as fast as ingest accepts; throughput and the CPU
   seconds every process of the pipeline used per profile, split into the agents'
   processes and the plumbing (ingest, orchestrator, convex-sync, broker, Convex stand-in).
4. The same saturation run with two career-matcher replicas (scale-out).

    make bench                      # defaults; BENCH_ARGS="--rates 5 10 --duration 10"
"""

import os

# The agent services run BLAS single-threaded (see their __main__); so does the in-process
# baseline, so that "the agents' own cost" is measured the same way. Before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "src"))

from careers_tools.chaos import sample_profile
from careers_tools.testing.stack import LocalStack

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
logging.getLogger("httpx").setLevel(logging.WARNING)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def stack_cpu(stack: LocalStack) -> dict[str, float]:
    usage = {name: cpu_seconds(p.process.pid) for name, p in stack.processes.items() if p.process}
    if stack.convex.process is not None:
        usage["convex-standin"] = cpu_seconds(stack.convex.process.pid)
    broker_pids = stack.broker_pids()
    if broker_pids:
        usage["kafka"] = sum(cpu_seconds(pid) for pid in broker_pids)
    return usage


# ------------------------------------------------------------------ baseline


def baseline(count: int) -> dict[str, float]:
    from career_matcher.graph import run_matching
    from careers_contracts import ProfileSubmission
    from profile_analyzer.graph import run_analysis

    async def one(i: int) -> None:
        profile = ProfileSubmission.model_validate(sample_profile(i))
        analysis = await run_analysis(profile)
        await run_matching(analysis, profile=profile)

    async def all_of_them() -> tuple[list[float], float]:
        await one(0)  # warm-up: graph compile, catalog load
        latencies = []
        cpu0 = time.process_time()
        for i in range(count):
            start = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - start)
        return latencies, time.process_time() - cpu0

    latencies, cpu = asyncio.run(all_of_them())
    total = sum(latencies)
    return {
        "profiles_per_s": count / total,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "cpu_ms_per_profile": cpu / count * 1000,
    }


# ------------------------------------------------------------------ pipeline


def completion_times(stack: LocalStack, jobs: set[str]) -> dict[str, float]:
    """Job id -> epoch seconds when its last Convex document was written."""
    done: dict[str, list[float]] = {}
    for doc in stack.convex.documents("careerRecommendations"):
        if doc["jobId"] in jobs:
            done.setdefault(doc["jobId"], []).append(doc["_creationTime"] / 1000)
    outputs: dict[str, list[float]] = {}
    for doc in stack.convex.documents("agentOutputs"):
        if doc["jobId"] in jobs:
            outputs.setdefault(doc["jobId"], []).append(doc["_creationTime"] / 1000)
    return {
        job: max(times + outputs[job])
        for job, times in done.items()
        if len(outputs.get(job, [])) >= 2
    }


def drive(stack: LocalStack, rate: float | None, count: int, timeout_s: float) -> dict[str, Any]:
    """Submit ``count`` profiles at ``rate``/s (None: as fast as possible), wait for all."""
    submitted: dict[str, float] = {}
    users = [f"user_bench_{i}" for i in range(8)]
    tokens = {u: stack.token(u) for u in users}
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=16))
    url = stack.url("ingest", "/v1/agents/analyze")

    def submit(i: int) -> None:
        if rate is not None:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        user = users[i % len(users)]
        sent = time.time()
        response = client.post(
            url, json=sample_profile(i), headers={"Authorization": f"Bearer {tokens[user]}"}
        )
        if response.status_code == 202:
            submitted[response.json()["jobId"]] = sent

    cpu_before = stack_cpu(stack)
    start = time.monotonic()
    window_start = start
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(submit, range(count)))
    deadline = time.monotonic() + timeout_s
    finished: dict[str, float] = {}
    while time.monotonic() < deadline:
        finished = completion_times(stack, set(submitted))
        if len(finished) == len(submitted):
            break
        # Latency comes from the documents' _creationTime, so polling rarely loses nothing
        # and keeps the stand-in's CPU (which counts as plumbing) for the pipeline itself.
        time.sleep(2.0)
    cpu_after = stack_cpu(stack)
    window_s = time.monotonic() - window_start
    client.close()
    latencies = [finished[j] - submitted[j] for j in finished]
    first, last = min(submitted.values()), max(finished.values(), default=time.time())
    cpu = {name: cpu_after.get(name, 0) - cpu_before.get(name, 0) for name in cpu_after}
    return {
        "submitted": len(submitted),
        "completed": len(finished),
        "throughput": len(finished) / max(last - first, 1e-9),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "cpu": cpu,
        "window_s": window_s,
    }


def idle_cpu(stack: LocalStack, seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second each process burns with no work (polling, heartbeats)."""
    time.sleep(2.0)  # let the warm-up's last records settle
    before = stack_cpu(stack)
    time.sleep(seconds)
    after = stack_cpu(stack)
    return {name: (after[name] - before.get(name, 0.0)) / seconds for name in after}


AGENTS = ("profile-analyzer", "career-matcher")


def cpu_split(cpu: dict[str, float], completed: int) -> tuple[float, float, float]:
    """CPU ms per profile: agent processes, the rest of the pipeline, the Convex stand-in.

    The stand-in is a dev/test tool in place of Convex's cloud, so it is reported on its
    own rather than counted as our plumbing.
    """
    per = 1000 / max(completed, 1)
    agents = sum(v for k, v in cpu.items() if k.startswith(AGENTS))
    convex = cpu.get("convex-standin", 0.0)
    plumbing = sum(cpu.values()) - agents - convex
    return agents * per, plumbing * per, convex * per


def run_stack(
    workdir: Path, replicas: dict[str, int], args: argparse.Namespace, rates: list[float]
) -> tuple[dict[str, float], list[tuple[str, dict[str, Any]]]]:
    results = []
    env = {"LOG_LEVEL": "WARNING"}
    if args.fetch_wait_ms is not None:
        env["KAFKA_FETCH_MAX_WAIT_MS"] = str(args.fetch_wait_ms)
    with LocalStack(workdir, replicas=replicas, env=env, kafka=args.kafka) as stack:
        drive(stack, None, 5, args.timeout)  # warm-up: first requests, group settling
        idle = idle_cpu(stack)
        for rate in rates:
            results.append(
                (
                    f"{rate:g}/s open loop",
                    drive(stack, rate, max(1, int(rate * args.duration)), args.timeout),
                )
            )
        results.append(("saturation", drive(stack, None, args.burst, args.timeout)))
    return idle, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[2, 5, 10])
    parser.add_argument("--duration", type=float, default=15, help="seconds per load level")
    parser.add_argument("--burst", type=int, default=150, help="profiles in the saturation run")
    parser.add_argument("--baseline", type=int, default=100, help="profiles for the baseline")
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--no-scale-out", action="store_true")
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=None,
        help="KAFKA_FETCH_MAX_WAIT_MS for every consumer (default: the broker's dev setting, "
        "50 on tansu, Kafka's 500 on Apache Kafka, which answers as soon as records arrive)",
    )
    parser.add_argument(
        "--kafka",
        choices=("tansu", "apache"),
        default=os.environ.get("KAFKA", "tansu") or "tansu",
        help="the broker the stack runs on (make bench KAFKA=apache)",
    )
    args = parser.parse_args(argv)

    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, broker: {args.kafka}",
        flush=True,
    )
    base = baseline(args.baseline)
    print(
        f"\nBaseline, agents in-process (analyzer + matcher, sequential, {args.baseline} profiles):"
    )
    print(
        f"  {base['profiles_per_s']:.1f} profiles/s   p50 {base['p50_ms']:.1f} ms   "
        f"p99 {base['p99_ms']:.1f} ms   CPU {base['cpu_ms_per_profile']:.1f} ms/profile",
        flush=True,
    )

    configurations = [("1 career-matcher", {})]
    if not args.no_scale_out:
        configurations.append(("2 career-matcher replicas", {"career-matcher": 2}))
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        for label, replicas in configurations:
            rates = args.rates if not replicas else []
            idle, results = run_stack(Path(tmp) / label.replace(" ", "-"), replicas, args, rates)
            print(f"\nPipeline, {label} (submit -> both Convex documents):")
            print(
                f"  idle (no load): {sum(idle.values()):.1%} of one core in all: "
                + ", ".join(f"{k} {v:.1%}" for k, v in sorted(idle.items()))
            )
            print(
                f"  {'load':<18} {'done':>9} {'profiles/s':>11} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7}"
                f" {'agents ms':>10} {'plumbing ms':>12} {'convex ms':>10} {'vs baseline':>12}"
            )
            for name, r in results:
                agents_ms, plumbing_ms, convex_ms = cpu_split(r["cpu"], r["completed"])
                print(
                    f"  {name:<18} {r['completed']:>4}/{r['submitted']:<4} {r['throughput']:>11.1f} "
                    f"{r['p50']:>7.2f} {r['p95']:>7.2f} {r['p99']:>7.2f} {agents_ms:>10.1f} "
                    f"{plumbing_ms:>12.1f} {convex_ms:>10.1f} "
                    f"{r['throughput'] / base['profiles_per_s']:>11.2f}x",
                    flush=True,
                )
            saturation = results[-1][1]
            agents_ms, plumbing_ms, _ = cpu_split(saturation["cpu"], saturation["completed"])
            own = base["cpu_ms_per_profile"]
            kafka_cost = plumbing_ms + max(0.0, agents_ms - own)
            print(
                f"  at saturation: Kafka plumbing (ingest, orchestrator, convex-sync, broker, and the "
                f"agent processes beyond their in-process compute) = {kafka_cost:.1f} ms/profile = "
                f"{kafka_cost / own:.0%} of the agents' own {own:.1f} ms/profile (goal <= 20%)",
                flush=True,
            )
            # The window also holds each process's idle-time polling (its share of the
            # window it had nothing to do); what remains is the per-profile work.
            idle_plumbing_ms = (
                sum(v for k, v in idle.items() if not k.startswith(AGENTS + ("convex-standin",)))
                * saturation["window_s"]
                / saturation["completed"]
                * 1000
            )
            print(
                f"  of which idle polling over the {saturation['window_s']:.1f} s window: at most "
                f"{idle_plumbing_ms:.1f} ms/profile; without it {kafka_cost - idle_plumbing_ms:.1f}"
                f" ms/profile = {(kafka_cost - idle_plumbing_ms) / own:.0%}",
                flush=True,
            )
            print(
                "  CPU seconds per process: "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(saturation["cpu"].items())),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
