"""``make chaos-cluster``: broker failover on a 3-node Apache Kafka cluster, nothing lost.

Starts a 3-node KRaft cluster on loopback with production's topic settings (replication
factor 3, ``min.insync.replicas=2``, idempotent producers), the whole stack on it (each
service its own process), submits N profiles at a steady rate and meanwhile:

1. SIGKILLs the broker that leads the most partitions (a crash: no controlled shutdown),
   and restarts it once the others have taken over;
2. rolls the cluster: each broker in turn gets SIGTERM (controlled shutdown), restarts,
   and the next one waits until every partition is fully replicated again.

Then it waits for every job's documents and counts them in the Convex stand-in:

    submitted 40, completed 40, lost 0, duplicated 0

It exits non-zero on any loss, duplicate or unaccepted submission.
"""

import argparse
import asyncio
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from careers_contracts import TOPICS

from careers_tools.apache_kafka import ApacheKafka
from careers_tools.chaos import Submitter, step, wait_and_tally
from careers_tools.testing.stack import LocalStack, default_workdir

REGISTRY_TOPICS = [t.name for t in TOPICS.all_topics()]


async def _under_replicated(kafka: ApacheKafka) -> int:
    """Partitions of the registry's topics whose in-sync replicas are fewer than 3."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.live_bootstrap(), request_timeout_ms=5_000)
    await admin.start()
    try:
        described: list[Any] = await admin.describe_topics(REGISTRY_TOPICS)
    finally:
        await admin.close()
    return sum(
        1
        for topic in described
        for partition in topic.get("partitions", [])
        if len(partition.get("isr", [])) < kafka.replication_factor
    )


def wait_fully_replicated(kafka: ApacheKafka, timeout_s: float = 90) -> None:
    asyncio.run(kafka.wait_for_brokers(kafka.nodes, timeout_s))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if asyncio.run(_under_replicated(kafka)) == 0:
                return
        except Exception as exc:  # metadata may be briefly unavailable mid-election
            step(f"  (replication check: {type(exc).__name__})")
        time.sleep(0.5)
    raise TimeoutError(f"partitions still under-replicated after {timeout_s:.0f}s")


def busiest_leader(kafka: ApacheKafka) -> int:
    counts = asyncio.run(kafka.partition_leaders(REGISTRY_TOPICS))
    return max(counts, key=lambda node: counts[node])


def run(profiles: int, users: int, timeout_s: float, workdir: Path) -> int:
    env = {
        "SHUTDOWN_GRACE_S": "10",
        "RETRY_BACKOFF_BASE_S": "0.5",
        "RETRY_BACKOFF_MAX_S": "5",
        "RETRY_MAX_ATTEMPTS": "6",
        "ORCHESTRATOR_STEP_TIMEOUT_S": "30",
    }
    step(f"starting a 3-node Apache Kafka cluster in {workdir / 'kafka'}")
    with ApacheKafka(nodes=3, workdir=workdir / "kafka") as kafka:
        step(f"cluster ready on {kafka.bootstrap}; starting the stack")
        with LocalStack(
            workdir, bootstrap=kafka.bootstrap, broker_env=kafka.client_env(), env=env
        ) as stack:
            # Spread the submissions over the whole fault sequence: one crash and a rolling
            # restart of three brokers take ~40-60 s here.
            submitter = Submitter(stack, profiles, users, duration_s=45.0)
            submitter.start()
            time.sleep(3)
            victim = busiest_leader(kafka)
            step(f"SIGKILL broker {victim} (leads the most partitions)")
            kafka.kill_node(victim)
            time.sleep(5)
            step(f"restarting broker {victim}")
            kafka.start_node(victim)
            wait_fully_replicated(kafka)
            step("cluster healthy again; rolling restart")
            for node in kafka.node_list:
                step(f"SIGTERM broker {node.node_id} (controlled shutdown)")
                kafka.stop_node(node.node_id)
                kafka.start_node(node.node_id)
                wait_fully_replicated(kafka)
                step(f"broker {node.node_id} back and every partition in sync")
            submitter.join()
            submitted = dict(submitter.jobs)
            step(f"{len(submitted)} submitted; waiting for Convex documents")
            tally = wait_and_tally(stack, submitted, timeout_s)

    print(str(tally), flush=True)
    problems = list(submitter.errors)
    if len(submitted) != profiles:
        problems.append(f"only {len(submitted)} of {profiles} submissions were accepted")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    failed = tally.lost or tally.duplicated or problems or tally.completed != len(submitted)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=40)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    # aiokafka logs every refused connection to a stopped broker at ERROR: expected here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    workdir = args.workdir or default_workdir(f"chaos-cluster-{uuid.uuid4().hex[:6]}")
    return run(args.profiles, args.users, args.timeout, workdir)


if __name__ == "__main__":
    sys.exit(main())
