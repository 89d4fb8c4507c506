"""Ingest throughput and latency vs FastAPI + FastStream and a bare endpoint, same run.

    python bench/bench_ingest.py [--duration 10] [--concurrency 32] [--redis URL] [--markdown]
        [--targets bare,peer,ingest,otlp] [--rounds 1] [--variant LABEL=SRC_DIR ...]

Starts an embedded Kafka broker (a fresh one for every target run: see ``fresh_broker``),
the real ingest service (``python -m ingest``: Clerk RS256 verification with a local
key, validation, per-user rate limit, 202 after the broker acknowledged
``profile.submitted``, then the ``queued`` status) and a *bare* FastAPI app (``POST``
with the same ``ProfileSubmission`` body model, answering 202 with a uuid: no auth, no
limit, no broker), and the *peer*: the idiomatic FastAPI + FastStream app
(``faststream.kafka.fastapi.KafkaRouter(bootstrap)`` with its defaults, a ``@router.post``
endpoint taking the same body model and answering 202 after ``await
router.broker.publish(profile, topic)``: one acknowledged record, no auth, no limit, no
idempotency). All run under uvicorn in their own process with the same settings (uvloop +
httptools, one process). Ingest runs twice: as deployed without a tracing exporter (spans carry ids and
propagate, nothing is recorded) and with OTLP export to a receiver in its own process
(every span recorded and exported). One client process drives each in turn with ``--concurrency`` keep-alive
connections for ``--duration`` seconds (after a warm-up), on loopback only.

A/B: ``--variant LABEL=DIR`` adds an ingest target run from another copy of the ingest
package (``DIR`` goes first on ``PYTHONPATH``, e.g. ``git archive <commit>
services/ingest/src | tar -x -C /tmp/a`` then ``--variant base=/tmp/a/services/ingest/src``);
``--rounds N`` repeats every target, interleaved (A B A B ...), and reports each
target's median round. The ratios (ours / peer, ours / bare) are printed last.
"""

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from careers_contracts import ProfileSubmission, Topic

ROOT = Path(__file__).resolve().parents[1]
PROFILE = json.loads((ROOT / "examples" / "profile.json").read_text())
USERS = 200
OURS = "ingest"
EXPORTING = "ingest, OTLP export"
PEER = "FastAPI + FastStream peer"
PEER_TOPIC = Topic(
    name="careers.bench-peer.v1",
    payload=ProfileSubmission,
    description="The bench's FastAPI + FastStream peer publishes here",
    producers=("bench",),
    consumers=(),
)


def serve_otlp() -> None:
    """An OTLP/HTTP receiver in its own process (its protobuf parsing stays off the client)."""
    import signal

    from careers_tools.testing.otlp_sink import OtlpSink

    with OtlpSink() as sink:
        print(sink.endpoint, flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


def serve_bare(port: int) -> None:
    """The baseline: a bare FastAPI endpoint with the same body model."""
    import uuid

    import uvicorn
    from careers_contracts import ProfileSubmission
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/v1/agents/analyze", status_code=202)
    async def analyze(profile: ProfileSubmission) -> dict[str, str]:
        return {"jobId": str(uuid.uuid4()), "status": "queued"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def serve_peer(port: int, bootstrap: str) -> None:
    """The peer: the idiomatic FastAPI + FastStream endpoint publishing the same body."""
    import uuid

    import uvicorn
    from careers_contracts import ProfileSubmission
    from fastapi import FastAPI
    from faststream.kafka.fastapi import KafkaRouter

    router = KafkaRouter(bootstrap)
    topic = PEER_TOPIC.name  # its own topic, so ingest's follower never reads these

    @router.post("/v1/agents/analyze", status_code=202)
    async def analyze(profile: ProfileSubmission) -> dict[str, str]:
        job_id = str(uuid.uuid4())
        await router.broker.publish(profile, topic, key=job_id.encode())  # waits for the ack
        return {"jobId": job_id, "status": "queued"}

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app = FastAPI(lifespan=router.lifespan_context)
    app.include_router(router)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    """One HTTP/1.1 keep-alive round trip; returns the status code."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def _raw_post(port: int, path: str, body: bytes, token: str | None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    port: int,
    path: str,
    tokens: list[str],
    duration_s: float,
    concurrency: int,
    pid: int,
) -> dict[str, Any]:
    """``concurrency`` keep-alive connections posting the profile back to back.

    A minimal asyncio HTTP/1.1 client (requests pre-encoded, one per user token) keeps the
    load generator's own CPU cost small next to the servers' on a 2-core machine.
    """
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    body = json.dumps(PROFILE).encode()
    requests = [_raw_post(port, path, body, t) for t in tokens] or [
        _raw_post(port, path, body, None)
    ]

    async def worker(index: int, until: float, record: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = index
        try:
            while time.perf_counter() < until:
                raw = requests[i % len(requests)]
                i += concurrency
                started = time.perf_counter()
                status = await _request(reader, writer, raw)
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    warm_until = time.perf_counter() + min(3.0, duration_s / 3)
    await asyncio.gather(*(worker(i, warm_until, False) for i in range(concurrency)))
    started = time.perf_counter()
    cpu_before = cpu_seconds(pid)
    until = started + duration_s
    await asyncio.gather(*(worker(i, until, True) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    ordered = sorted(latencies)
    return {
        "server_cpu_ms_per_req": 1000 * cpu / max(1, len(latencies)),
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "statuses": dict(sorted(statuses.items())),
    }


def _serve_in_process(role: str, port: int, *extra: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), f"--serve-{role}", str(port), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited ({process.returncode})")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the server on port {port} did not answer /healthz")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput (all of its figures, so they stay consistent)."""
    ordered = sorted(rounds, key=lambda r: r["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds_rps"] = [round(r["rps"]) for r in rounds]
    chosen["rounds_cpu"] = [round(r["server_cpu_ms_per_req"], 2) for r in rounds]
    chosen["median_cpu"] = statistics.median(r["server_cpu_ms_per_req"] for r in rounds)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--redis", default=None, help="REDIS_URL for ingest (default: a local Redis of its own)"
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--targets",
        default="bare,peer,ingest,otlp",
        help="comma-separated: bare, peer, ingest, otlp (ingest with OTLP export)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat every target, interleaved")
    parser.add_argument(
        "--kafka",
        choices=("tansu", "apache"),
        default="tansu",
        help="embedded tansu (a fresh one per target run) or one Apache Kafka node for all",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="another ingest build: DIR first on PYTHONPATH (repeatable)",
    )
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-peer", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-otlp", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("bootstrap", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    if args.serve_peer is not None:
        serve_peer(args.serve_peer, args.bootstrap)
        return 0
    if args.serve_otlp:
        serve_otlp()
        return 0

    from careers_tools.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka
    from careers_tools.local_servers import free_port
    from careers_tools.processes import ServiceProcess
    from careers_tools.testing.ingest import Keys, ingest_env

    targets = {t.strip() for t in args.targets.split(",") if t.strip()}
    variants = [v.split("=", 1) for v in args.variant]
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    if args.redis is None and {"ingest", "otlp"} & targets:
        # Ingest keeps its job read model (and rate limits, keys) in Redis.
        from careers_tools.testing.redis_server import LocalRedis

        own_redis = LocalRedis(log_file=work / "redis.log").start()
        atexit.register(own_redis.stop)
        args.redis = own_redis.url
    keys = Keys.create(work / "dev")
    tokens = [keys.token(f"user_bench_{i}", exp=int(time.time()) + 3600) for i in range(USERS)]
    results: dict[str, list[dict[str, Any]]] = {}
    load: dict[str, Any] = {
        "path": "/v1/agents/analyze",
        "duration_s": args.duration,
        "concurrency": args.concurrency,
    }

    apache: Any = None
    client_env: dict[str, str] = dict(TANSU_CLIENT_ENV)
    if args.kafka == "apache":
        from careers_tools.apache_kafka import ApacheKafka

        apache = ApacheKafka(nodes=1, workdir=work / "kafka").start()
        client_env = {
            k: v for k, v in apache.client_env().items() if k != "KAFKA_BOOTSTRAP_SERVERS"
        }
        if "peer" in targets:
            from careers_runtime.topics_admin import ensure_topics

            asyncio.run(ensure_topics(apache.bootstrap, [PEER_TOPIC]))

    @contextlib.contextmanager
    def fresh_broker() -> Iterator[str]:
        """A new embedded broker for one target run: every run starts from the same state.

        The embedded broker (tansu, memory storage) answers a fetch in time that grows with
        what its partition holds, and slows the produces beside it: on one broker for the
        whole bench, each ingest run (its follower reads profile.submitted back) would meet
        every earlier run's records, and the later a target ran the slower it looked.
        Apache Kafka finds a fetch's offset through its index: one node serves every run."""
        if apache is not None:
            yield apache.bootstrap
            return
        with EmbeddedKafka(log_file=work / "broker.log") as broker:
            if "peer" in targets:
                from careers_runtime.topics_admin import ensure_topics

                asyncio.run(ensure_topics(broker.bootstrap, [PEER_TOPIC]))
            yield broker.bootstrap

    def run_server(name: str, role: str, *extra: str) -> None:
        port = free_port()
        process = _serve_in_process(role, port, *extra, log=work / f"{role}.log")
        try:
            _wait_healthy(port, process)
            print(f"driving {name} for {args.duration:.0f} s ...", flush=True)
            result = asyncio.run(drive(port=port, tokens=[], pid=process.pid, **load))
            results.setdefault(name, []).append(result)
        finally:
            _stop(process)

    otlp: subprocess.Popen[bytes] | None = None
    otlp_endpoint = ""
    if "otlp" in targets:
        otlp = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-otlp"],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert otlp.stdout is not None
        otlp_endpoint = otlp.stdout.readline().decode().strip()
    # (label, extra env): ours as checked out, each --variant, then OTLP export.
    ingests: list[tuple[str, dict[str, str]]] = []
    if "ingest" in targets:
        ingests.append((OURS, {}))
    for label, src in variants:
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
        ingests.append((f"ingest [{label}]", {"PYTHONPATH": path}))
    if otlp is not None:
        ingests.append((EXPORTING, {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint}))
    try:
        for _ in range(args.rounds):
            # Every target once per round, one at a time (A B A B ... across rounds).
            if "bare" in targets:
                run_server("bare FastAPI", "bare")
            if "peer" in targets:
                with fresh_broker() as bootstrap:
                    run_server(PEER, "peer", bootstrap)
            # One ingest at a time: an idle second replica would still follow the
            # job-status and profile.submitted topics on the shared cores.
            for index, (name, extra) in enumerate(ingests):
                with fresh_broker() as bootstrap:
                    port = free_port()
                    env = ingest_env(
                        keys,
                        bootstrap,
                        port,
                        RATE_LIMIT="1000000/minute",
                        REDIS_URL=args.redis or "",
                        LOG_LEVEL="WARNING",
                        **client_env,
                        **extra,
                    )
                    process = ServiceProcess("ingest", env, work / f"ingest-{index}.log")
                    process.start()
                    try:
                        process.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=60)
                        assert process.process is not None
                        print(f"driving {name} for {args.duration:.0f} s ...", flush=True)
                        result = asyncio.run(
                            drive(port=port, tokens=tokens, pid=process.process.pid, **load)
                        )
                        results.setdefault(name, []).append(result)
                    finally:
                        process.stop()
    finally:
        if otlp is not None:
            _stop(otlp)
        if apache is not None:
            apache.stop()

    summary = {name: _median_round(rounds) for name, rounds in results.items()}
    machine = f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
    header = f"{machine}; concurrency {args.concurrency}, {args.duration:.0f} s per target"
    if args.rounds > 1:
        header += f", {args.rounds} interleaved rounds (median round shown)"
    if args.markdown:
        print(f"\n{header}\n")
        print("| target | requests | req/s | p50 ms | p99 ms | server CPU ms/req | statuses |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, r in summary.items():
            print(
                f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['server_cpu_ms_per_req']:.2f} | {r['statuses']} |"
            )
    else:
        print(f"\n{header}")
        for name, r in summary.items():
            rounds = (
                f"\n  {'':<32} rounds: req/s {r['rounds_rps']}, CPU ms/req {r['rounds_cpu']}"
                if len(r["rounds_rps"]) > 1
                else ""
            )
            print(
                f"  {name:<32} {r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.1f} ms   "
                f"p99 {r['p99_ms']:6.1f} ms   server CPU {r['server_cpu_ms_per_req']:.2f} ms/req"
                f"   {r['statuses']}{rounds}"
            )
    # Ratios last: each ingest target against the peer and the bare endpoint.
    print()
    for name, r in summary.items():
        if not name.startswith("ingest"):
            continue
        for base in (PEER, "bare FastAPI"):
            if base in summary:
                b = summary[base]
                print(
                    f"  {name} / {base}: throughput {r['rps'] / b['rps']:.2f}x, "
                    f"CPU per request {r['server_cpu_ms_per_req'] / b['server_cpu_ms_per_req']:.2f}x, "
                    f"p50 {r['p50_ms'] / b['p50_ms']:.2f}x"
                )
    # Exit 0 when the bench ran: every request of every target answered 202.
    ok = all(set(r["statuses"]) == {202} for rounds in results.values() for r in rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
