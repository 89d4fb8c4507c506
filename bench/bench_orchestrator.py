"""The orchestrator's own CPU per job, in-process: real records through its handlers.

No broker, no agents at measurement time: the agents' real replies for ``--jobs`` sample
profiles are computed once up front, every record is encoded as the runtime would publish
it, and then each job is driven the way the runtime's consumer drives it:

    decode(record) -> Orchestrator.handle_*(Incoming) -> encode(each Outgoing)

for its three records (profile.submitted, analysis.completed, match.completed), on the
orchestrator's default store (SQLite, WAL, its own thread). Reported: CPU ms per job
(process time, every thread) of the handlers alone, and of the runtime's codec around
them (decode + encode, which is the runtime's, reported separately).

    .venv/bin/python bench/bench_orchestrator.py [--jobs 300] [--profile out.html]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "src"))

from careers_contracts import (
    TOPICS,
    AnalysisCompleted,
    MatchCompleted,
    ProfileSubmission,
    ProfileSubmitted,
    Topic,
)
from careers_runtime.codec import Incoming, Outgoing, decode, encode
from careers_tools.chaos import sample_profile
from orchestrator.domain import workflow as wf
from orchestrator.graph import Workflow
from orchestrator.service import Orchestrator
from orchestrator.store import SqliteJobStore

Record = tuple[Topic, bytes, int]


async def agent_replies(count: int) -> list[tuple[Any, list[Any]]]:
    """The two agents' real outputs for ``count`` sample profiles (one per role)."""
    from career_matcher.graph import run_matching
    from profile_analyzer.graph import run_analysis

    out = []
    for i in range(count):
        profile = ProfileSubmission.model_validate(sample_profile(i))
        analysis = await run_analysis(profile)
        out.append((analysis, await run_matching(analysis, profile=profile)))
    return out


def records_for(i: int, replies: list[tuple[Any, list[Any]]], offset: int) -> list[Record]:
    job_id = str(uuid.uuid4())
    analysis, recommendations = replies[i % len(replies)]
    profile = ProfileSubmission.model_validate(sample_profile(i))
    events = [
        Outgoing(
            TOPICS.profile_submitted,
            ProfileSubmitted(
                job_id=job_id,
                user_id="user_bench",
                submitted_at=datetime.now(UTC),
                profile=profile,
            ),
            str(uuid.uuid4()),
        ),
        Outgoing(
            TOPICS.analysis_completed,
            AnalysisCompleted(
                job_id=job_id,
                user_id="user_bench",
                request_id=wf.request_id(job_id, "analysis"),
                analysis=analysis,
                agent_version="0.1.0",
                duration_ms=3.0,
            ),
            str(uuid.uuid4()),
        ),
        Outgoing(
            TOPICS.match_completed,
            MatchCompleted(
                job_id=job_id,
                user_id="user_bench",
                request_id=wf.request_id(job_id, "match"),
                recommendations=recommendations,
                agent_version="0.1.0",
                duration_ms=7.0,
            ),
            str(uuid.uuid4()),
        ),
    ]
    return [(e.topic, encode(e, "bench")[0], offset + n) for n, e in enumerate(events)]


async def run(args: argparse.Namespace) -> Any:
    replies = await agent_replies(min(args.jobs, 12))
    jobs = [records_for(i, replies, 3 * i) for i in range(args.jobs + args.warmup)]

    async def nothing(_: Sequence[Outgoing]) -> None:
        return None

    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        store = SqliteJobStore(Path(tmp) / "orchestrator.sqlite3")
        await store.open()
        orch = Orchestrator(Workflow(wf.Policy()), store, publish=nothing, finished_ttl_s=3600)
        handlers: dict[str, Callable[[Incoming[Any]], Awaitable[Sequence[Outgoing]]]] = {
            TOPICS.profile_submitted.name: orch.handle_submitted,
            TOPICS.analysis_completed.name: orch.handle_analysis,
            TOPICS.match_completed.name: orch.handle_match,
        }
        codec_s = handler_s = 0.0
        emitted = 0

        async def one(records: list[Record]) -> None:
            nonlocal codec_s, handler_s, emitted
            for topic, value, offset in records:
                t0 = time.process_time()
                envelope, payload = decode(value, topic)
                incoming = Incoming(
                    envelope=envelope, payload=payload, topic=topic.name, partition=0, offset=offset
                )
                t1 = time.process_time()
                out = await handlers[topic.name](incoming)
                t2 = time.process_time()
                for event in out:
                    encode(event, "orchestrator")
                t3 = time.process_time()
                codec_s += (t1 - t0) + (t3 - t2)
                handler_s += t2 - t1
                emitted += len(out)

        for records in jobs[: args.warmup]:
            await one(records)
        codec_s = handler_s = 0.0
        emitted = 0

        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for records in jobs[args.warmup :]:
            await one(records)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profiler is not None:
            profiler.stop()
        await store.close()

    n = args.jobs
    print(
        f"orchestrator in-process, {n} jobs (3 records each, {emitted / n:.0f} events out/job), "
        f"SQLite store:"
    )
    print(
        f"  handlers {handler_s / n * 1000:.2f} ms CPU/job   codec (runtime: decode+encode) "
        f"{codec_s / n * 1000:.2f} ms/job   all {cpu / n * 1000:.2f} ms CPU/job   "
        f"wall {wall / n * 1000:.2f} ms/job",
        flush=True,
    )
    return profiler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--profile", default="", help="write a pyinstrument HTML profile here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    profiler = asyncio.run(run(args))
    if profiler is not None:
        Path(args.profile).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:12000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
