"""Scale: an ingest replica's start-up CPU and memory against the number of retained jobs.

Fills a broker of its own with N complete jobs (``profile.submitted`` plus the
orchestrator's ``analyzing`` and ``completed`` job-status records, recommendations
included, as a raw producer writes them fast), then starts ingest replicas that join the
deployment's existing job-status group (committed at the topics' end, as after any
earlier start) and reads each one's CPU time and RSS once ``/readyz`` is 200. Two sizes
(default 20k and 200k jobs), the lower of ``--runs`` starts per size, printed next to
what main b5758bb measured (every replica replayed both topics before it was ready).

    make bench-scale                                  # tansu; KAFKA=apache for Apache Kafka
    python bench/bench_scale.py --small 20000 --large 200000 --runs 2
"""

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Measured on main b5758bb (issue 24), Apache Kafka 4.1, single node, 2 cores: CPU until
# ready grew ≈99 µs per retained job; memory held up to 10,000 jobs (≈30 KiB each).
BEFORE_CPU_S = {20_000: 4.8, 100_000: 13.9, 300_000: 32.0, 1_000_000: 102.0}
BEFORE_RSS = "≈300-410 MB (10,000 jobs kept in memory, ≈30 KiB per completed job)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=2, help="replica starts per size")
    parser.add_argument("--kafka", choices=("tansu", "apache"), default="tansu")
    args = parser.parse_args(argv)

    from careers_contracts import TOPICS
    from careers_runtime.kafka_client import TANSU_CLIENT_ENV
    from careers_runtime.topics_admin import ensure_topics
    from careers_tools.testing.ingest import Keys
    from careers_tools.testing.redis_server import LocalRedis
    from careers_tools.testing.startup import commit_at_end, fill_topics, measure_startup

    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, broker: {args.kafka},"
        f" load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[int, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        if args.kafka == "apache":
            from careers_tools.apache_kafka import ApacheKafka

            kafka: Any = stack.enter_context(ApacheKafka(nodes=1, workdir=work / "kafka"))
            os.environ.update(kafka.client_env())
        else:
            from careers_tools.embedded_broker import EmbeddedKafka

            kafka = stack.enter_context(EmbeddedKafka(log_file=work / "tansu.log"))
            os.environ.update(TANSU_CLIENT_ENV)
        bootstrap = kafka.bootstrap
        redis = stack.enter_context(LocalRedis(log_file=work / "redis.log"))
        keys = Keys.create(work / "dev")
        asyncio.run(ensure_topics(bootstrap))
        filled = 0
        for size in (args.small, args.large):
            started = time.monotonic()
            asyncio.run(fill_topics(bootstrap, size - filled))
            filled = size
            print(
                f"topics hold {size} jobs ({3 * size} records; filled in "
                f"{time.monotonic() - started:.0f} s)",
                flush=True,
            )
            group = f"ingest-job-status-{uuid.uuid4().hex[:8]}"
            asyncio.run(commit_at_end(bootstrap, group, [TOPICS.job_status]))
            runs = [
                measure_startup(keys, bootstrap, redis.url, work, group) for _ in range(args.runs)
            ]
            for run in runs:
                print(
                    f"  start: {run.cpu_s:.2f} s CPU, {run.rss_mib:.0f} MiB RSS, "
                    f"ready in {run.ready_s:.1f} s",
                    flush=True,
                )
            results[size] = (min(r.cpu_s for r in runs), min(r.rss_mib for r in runs))

    print()
    print("| retained jobs | CPU until ready (now) | RSS once ready (now) | CPU before (b5758bb) |")
    print("|---|---|---|---|")
    for size, (cpu, rss) in results.items():
        before = BEFORE_CPU_S.get(size)
        was = f"{before:.1f} s" if before else f"≈{size * 99e-6:.1f} s (99 µs/job)"
        print(f"| {size:,} | {cpu:.2f} s | {rss:.0f} MiB | {was} |")
    print(f"\nRSS before: {BEFORE_RSS}.")
    (small_cpu, small_rss), (large_cpu, large_rss) = results[args.small], results[args.large]
    ratio_cpu, ratio_rss = large_cpu / small_cpu, large_rss / small_rss
    verdict = "within" if max(ratio_cpu, ratio_rss) <= 1.2 else "NOT within"
    print(
        f"{args.large // args.small}x more jobs: CPU x{ratio_cpu:.2f}, RSS x{ratio_rss:.2f} "
        f"({verdict} 20%)"
    )
    return 0 if verdict == "within" else 1


if __name__ == "__main__":
    raise SystemExit(main())
