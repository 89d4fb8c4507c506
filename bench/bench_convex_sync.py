"""convex-sync writes/s against a fast local HTTP sink, versus a raw client in the same run.

Everything runs on loopback with its own processes and free ports (it does not disturb a
running `make dev`):

- an embedded Kafka broker (tansu) with the registry's topics;
- a sink: a minimal asyncio HTTP/1.1 server in its own process that answers every POST
  with 200 ``{"id": ..., "created": true}`` — Convex's success shape, at almost no cost,
  so the numbers show convex-sync's own overhead rather than Convex's;
- baseline: this process posts the same documents with one ``aiohttp.ClientSession`` (the
  client convex-sync uses; same pool size and concurrency), as fast as it can;
- convex-sync: ``python -m convex_sync`` consuming the same documents as events
  (pre-published: 2 agent outputs + 1 recommendations event per job), in its default
  configuration and in a tuned one (bigger fetch batches, more records in flight).

writes/s = documents / (sink's last request - sink's first request), measured by the sink
for every phase, so start-up and consumer-group joins are not counted.

``--clients`` instead compares HTTP clients alone (no broker, no convex-sync process): the
same documents posted to the same sink, in one process, by ``aiohttp.ClientSession`` (what
convex-sync uses), ``httpx.AsyncClient`` over httpx-aiohttp's ``AiohttpTransport`` and
plain ``httpx.AsyncClient``, each configured as convex-sync would (base URL, secret
header, timeouts, pool of ``--concurrency``). The clients take turns, A/B/C/A/B/C/...,
``--rounds`` times, so load from other processes on a shared machine hits them alike;
it prints this process's CPU ms per write (the sink runs in its own process) for each
run, and each client's median and its ratio to aiohttp's.

    make bench-convex-sync
    python bench/bench_convex_sync.py --jobs 1000 --markdown
    python bench/bench_convex_sync.py --clients --rounds 5
"""

import argparse
import asyncio
import json
import os
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

import httpx

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------ the sink


class Sink:
    """Counts requests; remembers when the first and last write arrived."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.writes = 0
        self.first = 0.0
        self.last = 0.0
        self.max_gap = 0.0
        self.paths: dict[str, int] = {}

    def count(self, path: str, documents: int) -> None:
        now = time.perf_counter()
        if self.writes == 0:
            self.first = now
        else:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.writes += documents
        self.paths[path] = self.paths.get(path, 0) + 1  # requests

    def stats(self) -> dict[str, Any]:
        return {
            "writes": self.writes,
            "seconds": self.last - self.first,
            "max_gap_s": self.max_gap,
            "paths": self.paths,
        }


def _response(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _serve_connection(
    sink: Sink, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            request_line = await reader.readline()
            if not request_line:
                break
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            payload = await reader.readexactly(length) if length else b""
            if method == "POST" and path in ("/agent-outputs", "/career-recommendations"):
                sink.count(path, 1)
                body = b'{"id":"' + str(sink.writes).encode() + b'","created":true}'
            elif method == "POST" and path == "/sync/batch":
                documents = json.loads(payload)["documents"]
                first = sink.writes
                sink.count(path, len(documents))
                body = (
                    b'{"results":['
                    + b",".join(
                        b'{"status":200,"id":"' + str(first + i).encode() + b'","created":true}'
                        for i in range(len(documents))
                    )
                    + b"]}"
                )
            elif path == "/_stats":
                body = json.dumps(sink.stats()).encode()
            elif path == "/_reset":
                sink.reset()
                body = b"{}"
            else:
                body = b'{"status":"ok"}'
            writer.write(_response("200 OK", body))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def run_sink(port: int) -> None:
    sink = Sink()
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(sink, r, w), "127.0.0.1", port, backlog=1024
    )
    print(f"sink listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------- the events


def make_events(jobs: int) -> list[Any]:
    from careers_contracts import (
        TOPICS,
        AgentOutput,
        Recommendation,
        RecommendationsReady,
    )
    from careers_runtime.codec import Outgoing

    t0 = datetime(2025, 6, 1, tzinfo=UTC)
    run = uuid.uuid4().hex[:8]
    events: list[Outgoing] = []
    for i in range(jobs):
        job_id = f"bench-{run}-{i}"
        user_id = f"user_{i % 50}"
        for agent in ("profile-analyzer", "career-matcher"):
            payload = AgentOutput(
                job_id=job_id,
                user_id=user_id,
                agent=agent,  # type: ignore[arg-type]
                agent_version="1.0.0",
                status="succeeded",
                input_summary={"skills": 12, "experience": 3},
                # ~1 KiB documents, like a real agent output summary
                output={
                    "skills": [f"skill {k}" for k in range(40)],
                    "summary": "x" * 400,
                },
                started_at=t0,
                finished_at=t0 + timedelta(milliseconds=20),
                duration_ms=20.0,
            )
            events.append(Outgoing(TOPICS.agent_outputs, payload, f"{job_id}/{agent}"))
        ready = RecommendationsReady(
            job_id=job_id,
            user_id=user_id,
            status="completed",
            recommendations=[
                Recommendation(
                    occupation_code=f"15-12{k:02d}.00",
                    title=f"Occupation {k}",
                    score=0.9 - k / 100,
                    rank=k + 1,
                    explanation="Matches the profile's skills",
                    matched_skills=["python", "sql"],
                    skill_gaps=["kubernetes"],
                )
                for k in range(5)
            ],
            summary="done",
            created_at=t0,
            pipeline_version="0.1.0",
        )
        events.append(Outgoing(TOPICS.recommendations, ready, f"{job_id}/rec"))
    return events


def documents_for(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    from careers_contracts import AgentOutput
    from convex_sync.domain.documents import agent_output_document, recommendations_document

    writes = []
    for event in events:
        payload = event.payload
        write = (
            agent_output_document(payload)
            if isinstance(payload, AgentOutput)
            else recommendations_document(payload)
        )
        writes.append((write.path, write.document))
    return writes


# ------------------------------------------------------------------------- phases


def sink_stats(sink_url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{sink_url}/_stats").json()
    return stats


def sink_reset(sink_url: str) -> None:
    httpx.post(f"{sink_url}/_reset").raise_for_status()


async def raw_client(
    sink_url: str, writes: list[tuple[str, dict[str, Any]]], concurrency: int
) -> dict[str, Any]:
    """The baseline: the same documents, posted straight from one aiohttp session."""
    import aiohttp

    sink_reset(sink_url)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(sink_url, connector=connector) as client:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        for item in writes:
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                path, document = queue.get_nowait()
                async with client.post(
                    path, json=document, headers={"X-Convex-Sync-Secret": "bench"}
                ) as response:
                    response.raise_for_status()
                    await response.json()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    stats = sink_stats(sink_url)
    stats["wall"] = wall
    stats["cpu_s"] = cpu
    return stats


# ------------------------------------------------------------- clients compared

SECRET_HEADER = {"X-Convex-Sync-Secret": "bench"}
TIMEOUT_S = 10.0


def _aiohttp_session(sink_url: str, concurrency: int) -> Any:
    """A session configured as ``ConvexHttp.make_session`` configures it."""
    import aiohttp

    return aiohttp.ClientSession(
        base_url=sink_url + "/",
        headers=SECRET_HEADER,
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_S, connect=5.0),
        connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=30),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def _post_all(post: Any, writes: list[tuple[str, dict[str, Any]]], concurrency: int) -> float:
    """Post every document with ``concurrency`` workers; this process's CPU seconds."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    for item in writes:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            status, body = await post(*queue.get_nowait())
            if status != 200 or not body:
                raise RuntimeError(f"sink answered {status}")

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu


async def via_aiohttp(
    sink_url: str, writes: list[tuple[str, dict[str, Any]]], concurrency: int
) -> float:
    async with _aiohttp_session(sink_url, concurrency) as session:

        async def post(path: str, document: dict[str, Any]) -> tuple[int, bytes]:
            async with session.post(
                path.lstrip("/"), json=document, allow_redirects=False
            ) as response:
                return response.status, await response.read()

        return await _post_all(post, writes, concurrency)


async def via_httpx(
    sink_url: str,
    writes: list[tuple[str, dict[str, Any]]],
    concurrency: int,
    *,
    aiohttp_transport: bool,
) -> float:
    transport = None
    if aiohttp_transport:
        from httpx_aiohttp import AiohttpTransport

        # httpx's API over aiohttp's connection pool, configured as convex-sync's session
        transport = AiohttpTransport(client=lambda: _aiohttp_session(sink_url, concurrency))
    async with httpx.AsyncClient(
        base_url=sink_url,
        headers=SECRET_HEADER,
        timeout=httpx.Timeout(TIMEOUT_S, connect=5.0),
        limits=httpx.Limits(max_connections=concurrency, keepalive_expiry=30),
        transport=transport,
    ) as client:

        async def post(path: str, document: dict[str, Any]) -> tuple[int, bytes]:
            response = await client.post(path, json=document)
            return response.status_code, response.content

        return await _post_all(post, writes, concurrency)


CLIENTS: dict[str, Any] = {
    "aiohttp.ClientSession": via_aiohttp,
    "httpx.AsyncClient + AiohttpTransport": lambda *a: via_httpx(*a, aiohttp_transport=True),
    "httpx.AsyncClient (its own transport)": lambda *a: via_httpx(*a, aiohttp_transport=False),
}


async def compare_clients(
    sink_url: str, writes: list[tuple[str, dict[str, Any]]], concurrency: int, rounds: int
) -> dict[str, list[float]]:
    """CPU ms per write of each client, the clients taking turns ``rounds`` times."""
    cpu_ms: dict[str, list[float]] = {name: [] for name in CLIENTS}
    warm = writes[: min(len(writes), 300)]
    for run in CLIENTS.values():  # imports, first connections, code paths warmed
        await run(sink_url, warm, concurrency)
    for r in range(rounds):
        for name, run in CLIENTS.items():
            sink_reset(sink_url)
            cpu_s = await run(sink_url, writes, concurrency)
            written = sink_stats(sink_url)["writes"]
            if written != len(writes):
                raise SystemExit(f"{name}: the sink saw {written}/{len(writes)} writes")
            cpu_ms[name].append(cpu_s / len(writes) * 1000)
            print(f"round {r + 1} {name:<40} {cpu_ms[name][-1]:.3f} CPU ms/write", flush=True)
    return cpu_ms


def print_client_comparison(cpu_ms: dict[str, list[float]], markdown: bool) -> None:
    baseline = statistics.median(cpu_ms["aiohttp.ClientSession"])
    print()
    if markdown:
        print("| client | CPU ms/write, each round | median | vs aiohttp |")
        print("|---|---|---:|---:|")
    for name, values in cpu_ms.items():
        median = statistics.median(values)
        each = ", ".join(f"{v:.3f}" for v in values)
        if markdown:
            print(f"| {name} | {each} | {median:.3f} | {median / baseline:.2f} |")
        else:
            print(f"{name:<40} median {median:.3f} CPU ms/write  {median / baseline:5.2f}x aiohttp")


def start_sink(port: int) -> subprocess.Popen[bytes]:
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert sink.stdout is not None
    sink.stdout.readline()  # "sink listening"
    return sink


async def publish(bootstrap: str, events: list[Any]) -> float:
    from careers_runtime.broker import create_broker
    from careers_runtime.delivery import publish_all
    from careers_runtime.settings import ServiceSettings

    broker = create_broker(
        # the embedded broker: no idempotent producers there
        ServiceSettings(
            kafka_bootstrap_servers=bootstrap,
            service_name="bench",
            kafka_enable_idempotence=False,
            environment="dev",
        )
    )
    await broker.start()
    started = time.perf_counter()
    try:
        for i in range(0, len(events), 2000):
            await publish_all(broker, events[i : i + 2000], "bench")
    finally:
        await broker.stop()
    return time.perf_counter() - started


def through_convex_sync(
    bootstrap: str,
    sink_url: str,
    expected: int,
    workdir: Path,
    name: str,
    extra_env: dict[str, str],
    timeout_s: float,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    from careers_tools.embedded_broker import TANSU_CLIENT_ENV
    from careers_tools.local_servers import free_port
    from careers_tools.processes import ServiceProcess

    sink_reset(sink_url)
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HTTP_PORT": str(port),
        "CONVEX_SITE_URL": sink_url,
        "CONVEX_SYNC_SECRET": "bench",
        # a fresh group per phase: each phase reads every pre-published event
        "CONVEX_SYNC_CONSUMER_GROUP": f"bench-{name}-{uuid.uuid4().hex[:6]}",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "LOG_LEVEL": "WARNING",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        **TANSU_CLIENT_ENV,
        **extra_env,
    }
    command = None
    if profile_dir is not None:  # pyinstrument's text report, written when the process exits
        out = profile_dir / f"convex-sync-{name}.txt"
        command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out)]
        command += ["-m", "convex_sync"]
    process = ServiceProcess(
        "convex_sync", env, workdir / f"convex-sync-{name}.log", command=command
    ).start()
    try:
        process.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60)
        pid = process.process.pid if process.process else 0
        cpu_before = _cpu_s(pid)
        deadline = time.monotonic() + timeout_s
        stats = sink_stats(sink_url)
        while stats["writes"] < expected and time.monotonic() < deadline:
            time.sleep(0.25)
            stats = sink_stats(sink_url)
        if stats["writes"] < expected:
            raise SystemExit(
                f"convex-sync ({name}) wrote {stats['writes']}/{expected} in {timeout_s}s\n"
                + process.tail()
            )
        stats["cpu_s"] = _cpu_s(pid) - cpu_before
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        stats["rss_mb"] = _rss_mb(pid)
        stats["retries"] = _metric_sum(metrics, "convex_sync_retries_total")
    finally:
        if profile_dir is not None:
            # uvicorn re-raises the signal after its shutdown: SIGINT ends in a
            # KeyboardInterrupt, after which pyinstrument writes its report (SIGTERM would not).
            process.signal(signal.SIGINT)
            process.wait(25)
        else:
            process.stop()
    return stats


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _metric_sum(text: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


# --------------------------------------------------------------------------- main

# name -> (label, convex-sync's environment on top of the defaults)
CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("convex-sync, defaults (batch 32, 16 in flight, /sync/batch)", {}),
    "batch256": (
        "convex-sync, batch 256, 16 in flight, /sync/batch",
        {"KAFKA_MAX_BATCH_RECORDS": "256"},
    ),
    # one request per document (the single-document actions), as before issue 17
    "single": (
        "convex-sync, defaults, one request per document",
        {"CONVEX_BATCH_MAX_DOCUMENTS": "0"},
    ),
    "single256": (
        "convex-sync, batch 256, one request per document",
        {"KAFKA_MAX_BATCH_RECORDS": "256", "CONVEX_BATCH_MAX_DOCUMENTS": "0"},
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs; 3 documents each")
    parser.add_argument("--concurrency", type=int, default=16, help="raw client in flight")
    parser.add_argument("--timeout", type=float, default=180, help="per convex-sync phase")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument(
        "--clients", action="store_true", help="compare HTTP clients only (no broker)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="with --clients: turns each")
    parser.add_argument(
        "--configs",
        default="single,default,single256,batch256",
        help="convex-sync phases to run, in order (repeat one for A/B/A), from: "
        + ", ".join(CONFIGS),
    )
    parser.add_argument(
        "--before-src",
        type=Path,
        help="convex-sync's src/ of an older commit (git archive): adds the configs "
        "'before' and 'before256', that code on PYTHONPATH, for an A/B in one run",
    )
    parser.add_argument(
        "--profile", type=Path, help="run convex-sync under pyinstrument; text reports here"
    )
    parser.add_argument("--sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.sink:
        _use_uvloop()
        asyncio.run(run_sink(args.sink))
        return 0

    sys.path.insert(0, str(ROOT / "runtime" / "src"))
    from careers_tools.embedded_broker import EmbeddedKafka
    from careers_tools.local_servers import free_port

    events = make_events(args.jobs)
    writes = documents_for(events)
    total = len(writes)
    avg_bytes = sum(len(json.dumps(d)) for _, d in writes) / total
    print(f"{args.jobs} jobs -> {total} documents, {avg_bytes:.0f} B on average", flush=True)

    if args.clients:
        sink_port = free_port()
        sink = start_sink(sink_port)
        try:
            _use_uvloop()
            cpu_ms = asyncio.run(
                compare_clients(
                    f"http://127.0.0.1:{sink_port}", writes, args.concurrency, args.rounds
                )
            )
        finally:
            sink.terminate()
            sink.wait(timeout=10)
        print_client_comparison(cpu_ms, args.markdown)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-convex-sync-") as tmp:
        workdir = Path(tmp)
        sink_port = free_port()
        sink_url = f"http://127.0.0.1:{sink_port}"
        sink = start_sink(sink_port)
        try:
            with EmbeddedKafka(log_file=workdir / "broker.log") as broker:
                publish_s = asyncio.run(publish(broker.bootstrap, events))
                print(f"published {total} events in {publish_s:.2f}s", flush=True)

                _use_uvloop()
                raw = asyncio.run(raw_client(sink_url, writes, args.concurrency))
                print(
                    f"raw aiohttp: {total / raw['seconds']:.0f} writes/s, "
                    f"{raw['cpu_s'] / total * 1000:.2f} CPU ms/write",
                    flush=True,
                )

                rows: list[tuple[str, dict[str, Any]]] = [
                    (f"raw aiohttp, {args.concurrency} in flight", raw)
                ]
                if args.before_src:
                    before = {"PYTHONPATH": str(args.before_src.resolve())}
                    CONFIGS["before"] = ("convex-sync before (defaults)", before)
                    CONFIGS["before256"] = (
                        "convex-sync before (batch 256)",
                        {**before, "KAFKA_MAX_BATCH_RECORDS": "256"},
                    )
                names = [n.strip() for n in args.configs.split(",") if n.strip()]
                if args.profile:
                    args.profile.mkdir(parents=True, exist_ok=True)
                for i, name in enumerate(names):
                    label, extra = CONFIGS[name]
                    stats = through_convex_sync(
                        broker.bootstrap,
                        sink_url,
                        total,
                        workdir,
                        f"{name}-{i}",
                        extra,
                        args.timeout,
                        args.profile,
                    )
                    print(
                        f"{label}: {total / stats['seconds']:.0f} writes/s, "
                        f"{stats['cpu_s'] / total * 1000:.2f} CPU ms/write (RSS {stats['rss_mb']:.0f} MB, retries {stats['retries']:.0f}, "
                        f"longest pause {stats['max_gap_s']:.2f}s; requests {stats['paths']})",
                        flush=True,
                    )
                    rows.append((label, stats))
        finally:
            sink.terminate()
            sink.wait(timeout=10)

    baseline = total / rows[0][1]["seconds"]
    print()
    if args.markdown:
        print("| path | documents | writes/s | vs raw client | CPU ms/write |")
        print("|---|---:|---:|---:|---:|")
    for label, stats in rows:
        rate = stats["writes"] / stats["seconds"]
        cpu_ms = stats["cpu_s"] / stats["writes"] * 1000
        if args.markdown:
            print(
                f"| {label} | {stats['writes']} | {rate:.0f} | {rate / baseline:.2f} "
                f"| {cpu_ms:.2f} |"
            )
        else:
            print(
                f"{label:<46} {rate:8.0f} writes/s  {rate / baseline:5.2f}x raw  "
                f"{cpu_ms:5.2f} CPU ms/write"
            )
    return 0


def _use_uvloop() -> None:
    # convex-sync runs under uvicorn, which uses uvloop when installed; match it.
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
