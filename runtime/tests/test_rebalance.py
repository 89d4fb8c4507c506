"""A consumer group under load while a replica joins and another leaves: nothing is lost.

Worker A consumes alone; events are published steadily; worker B joins mid-stream (the
group rebalances, A gives up half its partitions); then A is SIGTERMed mid-stream (it
drains, commits and leaves; B takes everything). Every event must be handled. A record
may be handled twice only across a rebalance (at-least-once; downstream ids make the
repeat harmless), so duplicates are bounded, not forbidden.
"""

import asyncio
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from careers_contracts import TOPICS
from careers_runtime.broker import create_broker
from careers_runtime.delivery import publish_all
from careers_runtime.settings import ServiceSettings
from careers_tools.processes import ServiceProcess
from careers_tools.testing.echo import echo_handled, echo_worker, profile_submitted
from careers_tools.testing.polling import wait_until

pytestmark = pytest.mark.broker
TOPIC = TOPICS.profile_submitted
EVENTS = 150


def _worker(bootstrap: str, group: str, out: Path, workdir: Path, name: str) -> tuple:
    return echo_worker(
        bootstrap, group, out, workdir / f"{name}.log", SERVICE_NAME=name, SHUTDOWN_GRACE_S="10"
    )


def _assigned(port: int) -> int:
    try:
        return int(
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["assignedPartitions"]
        )
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


async def test_replica_joining_and_leaving_under_load_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    group, prefix = f"rebalance-{uuid.uuid4().hex[:8]}", f"rb-{uuid.uuid4().hex[:6]}-"
    out = tmp_path / "handled.jsonl"
    a, a_port = _worker(kafka_bootstrap, group, out, tmp_path, "worker-a")
    b: ServiceProcess | None = None
    left_at: int | None = None
    try:
        a.wait_http(f"http://127.0.0.1:{a_port}/healthz", timeout_s=60)
        assert await asyncio.to_thread(
            wait_until, lambda: _assigned(a_port) >= TOPIC.partitions, 60
        ), a.tail()

        broker = create_broker(
            ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="test")
        )
        await broker.start()
        job_ids = [f"{prefix}{i}" for i in range(EVENTS)]
        try:
            started = time.monotonic()
            for chunk_start in range(0, EVENTS, 5):
                elapsed = time.monotonic() - started
                if b is None and elapsed > 2:
                    b, b_port = _worker(kafka_bootstrap, group, out, tmp_path, "worker-b")
                a_running = a.process is not None and a.process.poll() is None
                if b is not None and a_running and elapsed > 6 and _assigned(b_port) > 0:
                    a.signal(signal.SIGTERM)  # drain, commit, leave the group
                    left_at = chunk_start
                chunk = job_ids[chunk_start : chunk_start + 5]
                await publish_all(broker, [profile_submitted(j) for j in chunk], "test")
                await asyncio.sleep(0.3)
        finally:
            await broker.stop()
        assert b is not None and left_at is not None, "B joined and A left mid-stream"
        assert a.process is not None
        # uvicorn re-raises the SIGTERM after its graceful shutdown, hence -15, not 0.
        assert a.process.wait(timeout=30) in (0, -signal.SIGTERM), a.tail()
        assert "Application shutdown complete" in a.tail(200), "A drained and left"

        def all_handled() -> bool:
            return {r["jobId"] for r in echo_handled(out, prefix)} >= set(job_ids)

        assert await asyncio.to_thread(wait_until, all_handled, 60), (
            f"lost: {sorted(set(job_ids) - {r['jobId'] for r in echo_handled(out, prefix)})[:10]}"
            f"\n{a.tail()}\n{b.tail()}"
        )
        rows = echo_handled(out, prefix)
        pids = {r["pid"] for r in rows}
        assert len(pids) == 2, "both replicas handled events"
        duplicates = len(rows) - len({r["jobId"] for r in rows})
        assert duplicates <= 2 * TOPIC.partitions, f"{duplicates} re-deliveries"
    finally:
        a.stop()
        if b is not None:
            b.stop()
