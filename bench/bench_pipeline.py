"""End-to-end benchmark: submit -> both Convex documents present.

Starts its own stack (embedded broker, Convex stand-in, every service its own process, on
free ports — it does not disturb a running `make dev`), then:

1. Baseline, same run: the two agents called in-process, sequentially (profiles/s and CPU
   ms per profile) — the agents' own cost.
2. Open-loop load at a few rates (profiles/s) for a fixed duration each: sustained
   throughput and p50/p95/p99 end-to-end latency (submit -> careerRecommendations and both
   agentOutputs written in Convex, from the documents' _creationTime).
3. Saturation: a burst submitted as fast as ingest accepts; throughput and the CPU ms
   every process of the pipeline used per profile: ingest, orchestrator, each agent split
   into its own compute and the plumbing around it, convex-sync; the
   broker on its own line; the Convex stand-in shown but excluded (a dev tool in place
   of Convex's cloud); then the ratios against the agents' own compute.
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
    """The agents called in-process, one after the other: their own compute per profile
    (in total and per agent), the cost every pipeline figure is compared against."""
    from career_matcher.graph import run_matching
    from careers_contracts import ProfileSubmission
    from profile_analyzer.graph import run_analysis

    own = {"profile-analyzer": 0.0, "career-matcher": 0.0}

    async def one(i: int) -> None:
        profile = ProfileSubmission.model_validate(sample_profile(i))
        cpu0 = time.process_time()
        analysis = await run_analysis(profile)
        cpu1 = time.process_time()
        await run_matching(analysis, profile=profile)
        own["profile-analyzer"] += cpu1 - cpu0
        own["career-matcher"] += time.process_time() - cpu1

    async def all_of_them() -> tuple[list[float], float]:
        await one(0)  # warm-up: graph compile, catalog load
        own.update(dict.fromkeys(own, 0.0))
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
        **{f"own_ms:{agent}": seconds / count * 1000 for agent, seconds in own.items()},
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


def drive(
    stack: LocalStack,
    rate: float | None,
    count: int,
    timeout_s: float,
    idle: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Submit ``count`` profiles at ``rate``/s (None: as fast as possible), wait for all.

    The CPU window ends at the last completion: completion is polled every 2 s, so the
    window would otherwise end up to 2 s late, by a tail in which every process only
    idles; that tail is taken out at each process's ``idle`` rate (measured beforehand)."""
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
    compute_before = compute_cpu(stack)
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
    compute_after = compute_cpu(stack)
    sampled_at = time.time()
    window_s = time.monotonic() - window_start
    client.close()
    latencies = [finished[j] - submitted[j] for j in finished]
    first, last = min(submitted.values()), max(finished.values(), default=time.time())
    cpu = {name: cpu_after.get(name, 0) - cpu_before.get(name, 0) for name in cpu_after}
    rates = idle or {}
    tail_s = max(0.0, sampled_at - last) if finished and rates else 0.0
    if tail_s:
        cpu = {name: max(0.0, v - rates.get(name, 0.0) * tail_s) for name, v in cpu.items()}
        window_s -= tail_s
    return {
        "submitted": len(submitted),
        "completed": len(finished),
        "throughput": len(finished) / max(last - first, 1e-9),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "cpu": cpu,
        "compute": {k: v - compute_before.get(k, 0.0) for k, v in compute_after.items()},
        "window_s": window_s,
    }


def compute_cpu(stack: LocalStack) -> dict[str, float]:
    """CPU seconds each agent's compute thread has used (``careers_compute_cpu_seconds``,
    read from its /metrics): the agent's own compute, live, apart from its plumbing."""
    usage: dict[str, float] = {}
    for name in stack.processes:
        if not name.startswith(AGENTS):
            continue
        text = httpx.get(stack.url(name, "/metrics"), timeout=5).text
        usage[name] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("careers_compute_cpu_seconds{")
        )
    return usage


def idle_cpu(stack: LocalStack, seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second each process burns with no work (polling, heartbeats)."""
    time.sleep(2.0)  # let the warm-up's last records settle
    before = stack_cpu(stack)
    time.sleep(seconds)
    after = stack_cpu(stack)
    return {name: (after[name] - before.get(name, 0.0)) / seconds for name in after}


AGENTS = ("profile-analyzer", "career-matcher")


def cpu_split(cpu: dict[str, float], completed: int) -> tuple[float, float, float, float]:
    """CPU ms per profile: the agent processes, the other services (ingest, orchestrator,
    convex-sync), the broker, and the Convex stand-in (a dev/test tool in place of Convex's
    cloud, so reported on its own rather than counted as our plumbing)."""
    per = 1000 / max(completed, 1)
    agents = sum(v for k, v in cpu.items() if k.startswith(AGENTS))
    convex = cpu.get("convex-standin", 0.0)
    broker = cpu.get("kafka", 0.0)
    services = sum(cpu.values()) - agents - convex - broker
    return agents * per, services * per, broker * per, convex * per


def process_of(instance: str) -> str:
    """``career-matcher-2`` (a replica) -> ``career-matcher``."""
    for name in (*AGENTS, "convex-sync", "orchestrator", "ingest"):
        if instance == name or instance.startswith(name + "-"):
            return name
    return instance


OUR_PROCESSES = ("ingest", "orchestrator", *AGENTS, "convex-sync")


def print_breakdown(base: dict[str, float], idle: dict[str, float], run: dict[str, Any]) -> None:
    """CPU ms per profile at saturation, per process of the pipeline: the agents split into
    their own compute and the plumbing around it; the broker on its own line; the Convex
    stand-in (a dev tool in place of Convex's cloud) excluded.

    An agent's own compute is its compute thread's CPU in the run
    (``careers_compute_cpu_seconds``): under load it is above the in-process baseline
    (the graphs share two cores and their caches with six other processes), and that
    slowdown is compute, not plumbing. Both are printed; the ratios use the live one.
    ``idle`` is the share of the window each process burns with nothing to do (polling,
    heartbeats), measured with no load; it is inside the CPU figure, shown for reading."""
    per = 1000 / max(run["completed"], 1)
    window_per = run["window_s"] * per
    cpu: dict[str, float] = {}
    idle_ms: dict[str, float] = {}
    for instance, seconds in run["cpu"].items():
        name = process_of(instance)
        cpu[name] = cpu.get(name, 0.0) + seconds * per
        idle_ms[name] = idle_ms.get(name, 0.0) + idle.get(instance, 0.0) * window_per
    baseline_own = {agent: base[f"own_ms:{agent}"] for agent in AGENTS}
    live: dict[str, float] = {}
    for instance, seconds in run.get("compute", {}).items():
        live[process_of(instance)] = live.get(process_of(instance), 0.0) + seconds * per
    own = live if set(live) == set(AGENTS) else baseline_own
    own_total = sum(own.values())

    print(
        f"  per profile at saturation, CPU ms ({run['completed']} profiles, "
        f"{run['window_s']:.1f} s window):"
    )
    print(
        f"    {'process':<18} {'CPU':>7} {'own compute':>12} {'plumbing':>9} {'idle polling':>13}"
    )
    plumbing: dict[str, float] = {}
    for name in OUR_PROCESSES:
        mine = own.get(name, 0.0)
        plumbing[name] = cpu.get(name, 0.0) - mine
        own_text = f"{mine:>12.1f}" if name in own else f"{'':>12}"
        print(
            f"    {name:<18} {cpu.get(name, 0.0):>7.1f} {own_text} {plumbing[name]:>9.1f} "
            f"{idle_ms.get(name, 0.0):>13.1f}"
        )
    ours = sum(plumbing.values())
    ours_idle = sum(idle_ms.get(name, 0.0) for name in OUR_PROCESSES)
    baseline_total = sum(baseline_own.values())
    print(
        f"    (agents' own compute: {own_total:.1f} ms/profile "
        f"{'on their compute threads in this run' if own is live else 'the in-process baseline'}"
        f"; in-process baseline {baseline_total:.1f} ms; the plumbing against the baseline "
        f"would read {(ours + own_total - baseline_total) / baseline_total:.0%})"
    )
    print(
        f"    {'our processes':<18} {ours + own_total:>7.1f} {own_total:>12.1f} {ours:>9.1f} "
        f"{ours_idle:>13.1f}"
    )
    broker = cpu.get("kafka", 0.0)
    print(
        f"    {'broker (kafka)':<18} {broker:>7.1f} {'':>12} {broker:>9.1f} {idle_ms.get('kafka', 0.0):>13.1f}"
    )
    print(
        f"    {'convex stand-in':<18} {cpu.get('convex-standin', 0.0):>7.1f}   (excluded: a dev "
        "tool in place of Convex's cloud)"
    )
    print(
        f"  ratios: our processes' plumbing {ours:.1f} ms = {ours / own_total:.0%} of the agents' "
        f"own compute {own_total:.1f} ms/profile (goal <= 50%); net of idle polling "
        f"{ours - ours_idle:.1f} ms = {(ours - ours_idle) / own_total:.0%}",
        flush=True,
    )
    print(
        f"          broker {broker:.1f} ms = {broker / own_total:.0%}; orchestrator "
        f"{cpu.get('orchestrator', 0.0):.1f} ms/job (goal <= 2); everything but the stand-in "
        f"{ours + broker:.1f} ms = {(ours + broker) / own_total:.0%}",
        flush=True,
    )
    print(
        "  CPU seconds per process: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(run["cpu"].items())),
        flush=True,
    )


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
            count = max(1, int(rate * args.duration))
            results.append((f"{rate:g}/s open loop", drive(stack, rate, count, args.timeout, idle)))
        results.append(("saturation", drive(stack, None, args.burst, args.timeout, idle)))
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
        f"p99 {base['p99_ms']:.1f} ms   CPU {base['cpu_ms_per_profile']:.1f} ms/profile "
        f"(profile-analyzer {base['own_ms:profile-analyzer']:.1f}, "
        f"career-matcher {base['own_ms:career-matcher']:.1f})",
        flush=True,
    )

    configurations: list[tuple[str, dict[str, int]]] = [("1 career-matcher", {})]
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
                f" {'agents ms':>10} {'services ms':>12} {'broker ms':>10} {'stand-in ms':>12}"
                f" {'vs baseline':>12}"
            )
            for name, r in results:
                agents_ms, services_ms, broker_ms, convex_ms = cpu_split(r["cpu"], r["completed"])
                print(
                    f"  {name:<18} {r['completed']:>4}/{r['submitted']:<4} {r['throughput']:>11.1f} "
                    f"{r['p50']:>7.2f} {r['p95']:>7.2f} {r['p99']:>7.2f} {agents_ms:>10.1f} "
                    f"{services_ms:>12.1f} {broker_ms:>10.1f} {convex_ms:>12.1f} "
                    f"{r['throughput'] / base['profiles_per_s']:>11.2f}x",
                    flush=True,
                )
            print_breakdown(base, idle, results[-1][1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
