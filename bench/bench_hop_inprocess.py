"""Our per-record path alone: ``EventConsumer.process_batch`` on in-memory records, with
the producer replaced by a stub whose ``send`` returns an acknowledged future (no broker,
no aiokafka). The µs per record of our own code in a hop, for A/B runs of two trees:

    python bench/bench_hop_inprocess.py                     # this tree
    python bench/bench_hop_inprocess.py --src /tmp/base/runtime/src --src runtime/src

Each ``--src`` runs in its own process (alternating, ``--rounds``); min and median of
the rounds are printed, then the ratio of each tree to the first.
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def measure(n: int, batch: int, repeats: int) -> float:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_hop
    from aiokafka import ConsumerRecord
    from careers_contracts import AgentOutput
    from careers_runtime.broker import create_broker
    from careers_runtime.codec import Incoming, Outgoing
    from careers_runtime.delivery import EventConsumer, publishing
    from careers_runtime.settings import ServiceSettings
    from careers_runtime.telemetry import configure_tracing

    settings = ServiceSettings(service_name="hop-inprocess", log_level="WARNING", environment="dev")
    configure_tracing(settings)
    in_topic = bench_hop.hop_topic(bench_hop.INPUT)
    out_topic = bench_hop.hop_topic("bench.hop-out.v1")

    async def handle(event: Incoming[AgentOutput]) -> list[Outgoing]:
        return [event.emit(out_topic, event.payload, "hop")]

    class StubProducer:
        async def send(self, topic: str, value: bytes, **kwargs: Any) -> "asyncio.Future[Any]":
            ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            ack.set_result(None)
            return ack

    stub = StubProducer()
    # Both names, whichever the tree's publishing module uses.
    publishing.started_producer = lambda broker: stub  # type: ignore[assignment]
    consumer = EventConsumer(
        create_broker(settings), settings, group="hop-inprocess", routes={in_topic: handle}
    )
    records = [
        ConsumerRecord(
            in_topic.name, i % 6, i, 0, 0, key, value, None, len(key), len(value), headers
        )
        for i, (key, value, headers) in enumerate(bench_hop.make_records(n))
    ]
    batches = [records[i : i + batch] for i in range(0, n, batch)]

    async def run() -> float:
        for b in batches[:20]:  # warm-up
            await consumer.process_batch(b, from_retry=False)
        best = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            for b in batches:
                await consumer.process_batch(b, from_retry=False)
            best = min(best, (time.process_time() - started) / n * 1e6)
        return best

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", action="append", default=[])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(measure(args.n, args.batch, args.repeats))
        return 0
    sources = args.src or [str(ROOT / "runtime" / "src")]
    results: dict[str, list[float]] = {s: [] for s in sources}
    for round_ in range(args.rounds):
        order = sources if round_ % 2 == 0 else list(reversed(sources))
        for src in order:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--n",
                    str(args.n),
                    "--batch",
                    str(args.batch),
                    "--repeats",
                    str(args.repeats),
                ],
                env={**__import__("os").environ, "PYTHONPATH": src},
                capture_output=True,
                text=True,
                check=True,
            )
            results[src].append(float(out.stdout.strip().splitlines()[-1]))
    first = statistics.median(results[sources[0]])
    for src, values in results.items():
        med = statistics.median(values)
        print(
            f"  {src:<40} min {min(values):6.1f}  median {med:6.1f} µs/record  ({med / first:.2f}x the first)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
