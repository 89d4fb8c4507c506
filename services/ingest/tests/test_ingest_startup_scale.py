"""A replica's start-up does not depend on how many jobs exist.

Measured before the shared read model (main b5758bb): a replica replayed every retained
``profile.submitted`` and job-status record before ``/readyz`` turned 200 — 4.8 s of CPU
at 20k retained jobs, 13.9 s at 100k, ≈99 µs per job — and kept up to 10,000 jobs in
memory (≈30 KiB each). Now it reads nothing of the topics' history: CPU and RSS once
ready are the same (within 20%) with 5k and with 50k jobs on the topics.
"""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from careers_contracts import TOPICS
from careers_runtime.topics_admin import ensure_topics
from careers_tools.testing.ingest import Keys
from careers_tools.testing.startup import Startup, commit_at_end, fill_topics, measure_startup

pytestmark = pytest.mark.broker


def _measure(keys: Keys, bootstrap: str, redis_url: str, workdir: Path) -> Startup:
    group = f"ingest-job-status-{uuid.uuid4().hex[:8]}"
    asyncio.run(commit_at_end(bootstrap, group, [TOPICS.job_status]))  # a deployment's group
    runs = [measure_startup(keys, bootstrap, redis_url, workdir, group) for _ in range(2)]
    # The lower of two runs: the machine is shared, a run can only be slowed down.
    return Startup(min(r.cpu_s for r in runs), min(r.rss_mib for r in runs), runs[0].ready_s)


def _own_broker(kind: str, workdir: Path) -> Any:
    """A broker of the session's kind, but not the session's: 50k jobs there would slow
    every other test that reads a topic from its beginning."""
    if kind == "apache":
        from careers_tools.apache_kafka import ApacheKafka

        return ApacheKafka(nodes=1, workdir=workdir / "kafka")
    from careers_tools.embedded_broker import EmbeddedKafka

    return EmbeddedKafka(log_file=workdir / "tansu.log")


def test_startup_cpu_and_memory_do_not_grow_with_retained_jobs(
    keys: Keys, redis_url: str, tmp_path: Path, kafka_kind: str
) -> None:
    with _own_broker(kafka_kind, tmp_path) as broker:
        bootstrap = broker.bootstrap
        asyncio.run(ensure_topics(bootstrap))
        asyncio.run(fill_topics(bootstrap, 5_000))
        small = _measure(keys, bootstrap, redis_url, tmp_path)
        asyncio.run(fill_topics(bootstrap, 45_000))
        large = _measure(keys, bootstrap, redis_url, tmp_path)
    print(f"start-up with 5k jobs: {small}; with 50k: {large}")
    assert large.cpu_s <= small.cpu_s * 1.2, (small, large)
    assert large.rss_mib <= small.rss_mib * 1.2, (small, large)
