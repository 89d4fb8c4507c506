"""One hop: consume a ~1.4 KB envelope, produce one (issue 17).

Three relays move the same records (the same bytes in) from an input topic to an output
topic, each in its own process so its CPU is attributable:

- ``ours``: the runtime's delivery policy (``careers_runtime.delivery.EventConsumer``) with a
  handler that re-emits the validated payload: validation of envelope and payload, trace
  context propagation, metrics, retries/dead letters, commit after produce.
- ``faststream``: FastStream's idiomatic relay: a subscriber typed with the contracts'
  ``Envelope`` (FastStream validates it), the payload validated, a new envelope published
  with ``broker.publish``, ack (commit) after the handler.
- ``raw``: an aiokafka batch relay with our producer settings: ``getmany``, send every
  record's bytes (no parsing), await every ack, commit. The floor.

For each relay: N records (distinct keys, as distinct jobs) sit in the input topic; the
relay starts in a fresh consumer group; this process counts the output topic until all N
are there (and checks none is duplicated, by key), and reads the relay's and the broker's
CPU (``/proc``) from the first output record to the last: start-up and group join are
not counted. Variants run interleaved (``--rounds``), the median per variant is reported,
ratios last.

    make bench-hop                      # tansu; KAFKA=apache for Apache Kafka
    python bench/bench_hop.py --n 20000 --rounds 3
    python bench/bench_hop.py --variants ours ours@/tmp/base/runtime/src   # A/B two trees
    python bench/bench_hop.py --variants ours --profile /tmp/hop.txt        # pyinstrument
"""

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
INPUT = "bench.hop-in.v1"
PARTITIONS = 6


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS


def hop_topic(name: str) -> Any:
    from careers_contracts import AgentOutput
    from careers_contracts.topics import Topic

    return Topic(
        name=name,
        payload=AgentOutput,
        description="issue-17 hop bench",
        producers=("bench",),
        consumers=("bench",),
        partitions=PARTITIONS,
    )


def output_name(variant: str, run: int) -> str:
    return f"bench.hop-out-{variant.split('@')[0]}-{run}.v1"


# ----------------------------------------------------------------------- records


def make_records(n: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """(key, value, headers) of n agent-output envelopes of ~1.4 KB, as services send them."""
    from careers_contracts import AgentOutput
    from careers_runtime.codec import Outgoing, encode

    topic = hop_topic(INPUT)
    rng = random.Random(17)
    started = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        job = f"job_{uuid.UUID(int=rng.getrandbits(128)).hex}"
        payload = AgentOutput(
            job_id=job,
            user_id=f"user_{i % 97:04d}",
            agent="career-matcher",
            agent_version="0.1.0+catalog.3f9a1c2e",
            status="succeeded",
            input_summary={"experiences": 3, "skills": 14, "summaryChars": 812, "goals": 2},
            output={
                "recommendations": [
                    {
                        "occupation": f"esco:{rng.randrange(10**6):06d}",
                        "title": f"Occupation title number {k}",
                        "score": round(rng.random(), 4),
                        "matchedSkills": ["python", "sql", "data analysis"][: 1 + k % 3],
                    }
                    for k in range(5)
                ],
                "catalogVersion": "2026-11",
            },
            started_at=started,
            finished_at=started + timedelta(milliseconds=17),
            duration_ms=17.3,
        )
        value, headers = encode(
            Outgoing(topic=topic, payload=payload, event_id=str(uuid.UUID(int=i + 1))),
            "career-matcher",
        )
        headers["traceparent"] = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
        out.append((job.encode(), value, [(k, v.encode()) for k, v in headers.items()]))
    return out


# ----------------------------------------------------------------------- relays


def _settings() -> Any:
    from careers_runtime.settings import ServiceSettings

    return ServiceSettings(service_name="hop-bench", log_level="WARNING", environment="dev")


async def relay_ours(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from careers_contracts import AgentOutput
    from careers_runtime.broker import create_broker
    from careers_runtime.codec import Incoming, Outgoing
    from careers_runtime.delivery import EventConsumer
    from careers_runtime.telemetry import configure_tracing

    settings = _settings()
    configure_tracing(settings)  # as `serve` does: no exporter, context propagation only
    out_topic = hop_topic(args.output)

    async def handle(event: Incoming[AgentOutput]) -> list[Outgoing]:
        return [event.emit(out_topic, event.payload, "hop")]

    broker = create_broker(settings)
    consumer = EventConsumer(
        broker, settings, group=args.group, routes={hop_topic(args.input): handle}
    )
    await broker.start()
    if hasattr(consumer, "start"):  # since issue 17's own consumer loop (older trees: no)
        await consumer.start()
    print("ready", flush=True)
    await stop.wait()
    if hasattr(consumer, "stop"):
        await consumer.stop()
    await broker.stop()


async def relay_faststream(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from careers_contracts import AgentOutput, Envelope, derive_event_id
    from careers_runtime.kafka_client import kafka_security
    from faststream.kafka import KafkaBroker, KafkaMessage

    settings = _settings()
    broker = KafkaBroker(
        settings.bootstrap_list,
        security=kafka_security(settings),
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        # FastStream's producer defaults otherwise (no linger: each awaited publish is sent
        # at once; with our 5 ms linger this relay manages ~100 records/s).
        # As our services: no log line per message (FastStream's default logs two at INFO).
        logger=logging.getLogger("hop-bench.broker"),
    )
    event_type = args.output.rsplit(".", 1)[0]

    @broker.subscriber(
        args.input,
        group_id=args.group,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        # FastStream's default (auto-commit in the background). AckPolicy.ACK, a commit
        # after each handled message, runs at ~100 records/s on tansu.
    )
    async def relay(envelope: Envelope, message: KafkaMessage) -> None:
        payload = AgentOutput.model_validate(envelope.data)
        out = Envelope(
            id=derive_event_id(envelope.id, "hop"),
            type=event_type,
            source="hop-bench",
            subject=payload.job_id,
            data=payload.model_dump(mode="json", by_alias=True),
        )
        await broker.publish(
            out,
            topic=args.output,
            key=payload.job_id.encode(),
            headers={
                "ce_id": out.id,
                "ce_type": out.type,
                "traceparent": message.headers.get("traceparent", ""),
            },
        )

    await broker.start()
    print("ready", flush=True)
    await stop.wait()
    await broker.stop()


def _max_batch(settings: Any) -> dict[str, Any]:
    """Our producers' batch size, when the runtime has the setting (older trees do not)."""
    size = getattr(settings, "kafka_max_batch_bytes", None)
    return {"max_batch_size": size} if size else {}


async def relay_raw(args: argparse.Namespace, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from careers_runtime.kafka_client import kafka_client_kwargs, producer_kwargs

    settings = _settings()
    consumer = AIOKafkaConsumer(
        args.input,
        **kafka_client_kwargs(settings),
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    producer = AIOKafkaProducer(
        **producer_kwargs(settings),
        linger_ms=settings.kafka_linger_ms,
        compression_type=None
        if settings.kafka_compression == "none"
        else settings.kafka_compression,
        **_max_batch(settings),
    )
    await producer.start()
    await consumer.start()
    print("ready", flush=True)
    while not stop.is_set():
        batches = await consumer.getmany(
            timeout_ms=settings.kafka_batch_timeout_ms, max_records=settings.kafka_max_batch_records
        )
        acks = [
            await producer.send(args.output, r.value, key=r.key, headers=list(r.headers))
            for records in batches.values()
            for r in records
        ]
        if acks:
            await asyncio.gather(*acks)
            await consumer.commit()
    await consumer.stop()
    await producer.stop()


RELAYS = {"ours": relay_ours, "faststream": relay_faststream, "raw": relay_raw}


def child(args: argparse.Namespace) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await RELAYS[args.variant](args, stop)

    if args.profile and args.profile.endswith(".prof"):  # cProfile on CPU time (pstats)
        import cProfile

        cpu_profiler = cProfile.Profile(time.process_time)
        cpu_profiler.enable()
        asyncio.run(main())
        cpu_profiler.disable()
        cpu_profiler.dump_stats(args.profile)
        return 0
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    asyncio.run(main())
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=True, show_all=False))
        profiler.last_session.save(f"{args.profile}.pyisession")  # pyinstrument --load
    return 0


# ----------------------------------------------------------------------- driver


async def produce_input(bootstrap_env: dict[str, str], records: list[Any]) -> None:
    from aiokafka import AIOKafkaProducer
    from careers_runtime.kafka_client import producer_kwargs
    from careers_runtime.topics_admin import ensure_topics

    settings = _settings()
    await ensure_topics(settings, [hop_topic(INPUT)], replication_factor=1)
    producer = AIOKafkaProducer(**producer_kwargs(settings), linger_ms=5, compression_type="lz4")
    await producer.start()
    try:
        acks = [await producer.send(INPUT, v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def run_one(
    variant: str, run: int, n: int, broker_pids: list[int], timeout_s: float, profile: str | None
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer
    from careers_contracts.topics import dead_letter_topic, retry_topic
    from careers_runtime.kafka_client import kafka_client_kwargs
    from careers_runtime.topics_admin import ensure_topics

    name, _, src = variant.partition("@")
    group = f"hop-{name}-{run}"
    output = output_name(variant, run)
    settings = _settings()
    await ensure_topics(
        settings,
        [hop_topic(output), retry_topic(group), dead_letter_topic(group)],
        replication_factor=1,
    )
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(HERE), "child", name, "--input", INPUT, "--output", output]
    cmd += ["--group", group] + (["--profile", profile] if profile else [])
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    consumer = AIOKafkaConsumer(
        output, **kafka_client_kwargs(settings), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    keys: set[bytes] = set()
    seen = duplicates = 0
    t0 = cpu0 = broker0 = 0.0
    n0 = 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < n and time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{variant} relay exited with {process.returncode}")
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    seen += 1
                    if record.key in keys:
                        duplicates += 1
                    keys.add(record.key)
            if seen and not t0:
                t0, cpu0 = time.monotonic(), cpu_seconds(process.pid)
                broker0, n0 = sum(cpu_seconds(p) for p in broker_pids), seen
        t1, cpu1 = time.monotonic(), cpu_seconds(process.pid)
        broker1 = sum(cpu_seconds(p) for p in broker_pids)
    finally:
        await consumer.stop()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    counted = max(seen - n0, 1)
    return {
        "variant": variant,
        "out": seen,
        "unique": len(keys),
        "duplicates": duplicates,
        "cpu_ms": (cpu1 - cpu0) / counted * 1000,
        "broker_ms": (broker1 - broker0) / counted * 1000,
        "rate": counted / max(t1 - t0, 1e-9),
    }


def drive(args: argparse.Namespace) -> int:
    from careers_tools.embedded_broker import TANSU_CLIENT_ENV

    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, broker: {args.kafka}, "
        f"N={args.n}, rounds={args.rounds}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-hop-") as tmp, contextlib.ExitStack() as stack:
        if args.kafka == "apache":
            from careers_tools.apache_kafka import ApacheKafka

            kafka: Any = stack.enter_context(ApacheKafka(nodes=1, workdir=Path(tmp) / "kafka"))
            env = kafka.client_env()
            pids = [n.process.pid for n in kafka.node_list if n.process is not None]
        else:
            from careers_tools.embedded_broker import EmbeddedKafka

            kafka = stack.enter_context(
                EmbeddedKafka(create_topics=False, log_file=Path(tmp) / "tansu.log")
            )
            env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, **TANSU_CLIENT_ENV}
            pids = [kafka.process.pid]
        os.environ.update(env)
        records = make_records(args.n)
        size = statistics.mean(len(v) for _, v, _ in records)
        asyncio.run(produce_input(env, records))
        print(
            f"input: {args.n} envelopes of {size:.0f} bytes on average, distinct keys", flush=True
        )
        results: dict[str, list[dict[str, Any]]] = {}
        run = 0
        for round_ in range(args.rounds):
            order = args.variants if round_ % 2 == 0 else list(reversed(args.variants))
            for variant in order:
                run += 1
                r = asyncio.run(run_one(variant, run, args.n, pids, args.timeout, args.profile))
                results.setdefault(variant, []).append(r)
                ok = r["out"] == args.n and r["unique"] == args.n and not r["duplicates"]
                print(
                    f"  round {round_ + 1} {variant:<14} out {r['out']:>6} unique {r['unique']:>6} "
                    f"dup {r['duplicates']} {'ok' if ok else 'MISMATCH'}   relay CPU "
                    f"{r['cpu_ms']:.4f} ms/rec   broker CPU {r['broker_ms']:.4f} ms/rec   "
                    f"{r['rate']:,.0f} rec/s",
                    flush=True,
                )
    print(
        f"\nOne hop, median of {args.rounds} round(s) (CPU per record from first to last output):"
    )
    print(f"  {'relay':<14} {'relay CPU ms/rec':>17} {'broker CPU ms/rec':>18} {'records/s':>10}")
    med: dict[str, float] = {}
    for variant, rs in results.items():
        med[variant] = statistics.median(r["cpu_ms"] for r in rs)
        print(
            f"  {variant:<14} {med[variant]:>17.4f} "
            f"{statistics.median(r['broker_ms'] for r in rs):>18.4f} "
            f"{statistics.median(r['rate'] for r in rs):>10,.0f}"
        )
    ours = [v for v in med if v.startswith("ours")]
    for v in ours:
        parts = [
            f"{v}/{other} {med[v] / med[other]:.2f}x" if med[other] else f"{v}/{other} n/a"
            for other in med
            if other != v
        ]
        print("  ratios: " + ", ".join(parts))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    c = sub.add_parser("child", help="run one relay (internal)")
    c.add_argument("variant", choices=sorted(RELAYS))
    c.add_argument("--input", required=True)
    c.add_argument("--output", required=True)
    c.add_argument("--group", required=True)
    c.add_argument("--profile", default=None)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["ours", "faststream", "raw"],
        help="ours, faststream, raw; ours@PATH runs ours with PATH (a runtime/src) first on "
        "sys.path, to compare two versions of the runtime in one run",
    )
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--profile",
        default=None,
        help="profile each relay: PATH.prof cProfile on CPU time (pstats), else pyinstrument "
        "text (and PATH.pyisession)",
    )
    parser.add_argument(
        "--kafka",
        choices=("tansu", "apache"),
        default=os.environ.get("KAFKA", "tansu") or "tansu",
    )
    args = parser.parse_args(argv)
    if args.command == "child":
        return child(args)
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
