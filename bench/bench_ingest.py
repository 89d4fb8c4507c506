"""Ingest throughput and latency vs a bare FastAPI endpoint, same machine, same run.

    python bench/bench_ingest.py [--duration 10] [--concurrency 32] [--redis URL] [--markdown]

Starts an embedded Kafka broker, the real ingest service (``python -m ingest``: Clerk
RS256 verification with a local key, validation, per-user rate limit, 202 after the
broker acknowledged ``profile.submitted``, then the ``queued`` status) and a *bare* FastAPI app
(``POST`` with the same ``ProfileSubmission`` body model, answering 202 with a uuid: no
auth, no limit, no broker). Both run under uvicorn in their own process with the same
settings. Ingest runs twice: as deployed without a tracing exporter (spans carry ids and
propagate, nothing is recorded) and with OTLP export to a receiver in its own process
(every span recorded and exported). One client process drives each in turn with ``--concurrency`` keep-alive
connections for ``--duration`` seconds (after a warm-up), on loopback only.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROFILE = json.loads((ROOT / "examples" / "profile.json").read_text())
USERS = 200
EXPORTING = "ingest, OTLP export"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redis", default=None, help="REDIS_URL for ingest (default: none)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-otlp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    if args.serve_otlp:
        serve_otlp()
        return 0

    from careers_runtime.kafka_client import TANSU_CLIENT_ENV
    from careers_tools.embedded_broker import EmbeddedKafka
    from careers_tools.local_servers import free_port
    from careers_tools.processes import ServiceProcess
    from careers_tools.testing.ingest import Keys, ingest_env

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    keys = Keys.create(work / "dev")
    tokens = [keys.token(f"user_bench_{i}", exp=int(time.time()) + 3600) for i in range(USERS)]
    results: dict[str, dict[str, Any]] = {}
    with EmbeddedKafka(log_file=work / "broker.log") as broker:
        ingest_port, exporting_port, bare_port = free_port(), free_port(), free_port()
        otlp = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-otlp"],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert otlp.stdout is not None
        otlp_endpoint = otlp.stdout.readline().decode().strip()
        env = ingest_env(
            keys,
            broker.bootstrap,
            ingest_port,
            RATE_LIMIT="1000000/minute",
            REDIS_URL=args.redis or "",
            LOG_LEVEL="WARNING",
            KAFKA_LINGER_MS="5",
            **TANSU_CLIENT_ENV,
        )
        load: dict[str, Any] = {
            "path": "/v1/agents/analyze",
            "duration_s": args.duration,
            "concurrency": args.concurrency,
        }
        ingest = ServiceProcess("ingest", env, work / "ingest.log")
        exporting = ServiceProcess(
            "ingest",
            {**env, "HTTP_PORT": str(exporting_port), "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint},
            work / "ingest-otlp.log",
        )
        bare_log = open(work / "bare.log", "ab")  # noqa: SIM115 - closed below
        bare_proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)],
            stdout=bare_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{bare_port}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            print(f"driving bare FastAPI for {args.duration:.0f} s ...", flush=True)
            results["bare FastAPI"] = asyncio.run(
                drive(port=bare_port, tokens=[], pid=bare_proc.pid, **load)
            )
            # One ingest at a time: an idle second replica would still follow the
            # job-status topic, decoding the other's records on the shared cores.
            for name, process, port in (
                ("ingest", ingest, ingest_port),
                (EXPORTING, exporting, exporting_port),
            ):
                process.start()
                try:
                    process.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=60)
                    assert process.process is not None
                    print(f"driving {name} for {args.duration:.0f} s ...", flush=True)
                    results[name] = asyncio.run(
                        drive(port=port, tokens=tokens, pid=process.process.pid, **load)
                    )
                finally:
                    process.stop()
        finally:
            otlp.terminate()
            otlp.wait(timeout=10)
            bare_proc.terminate()
            bare_proc.wait(timeout=10)
            bare_log.close()

    ratio = results["ingest"]["rps"] / results["bare FastAPI"]["rps"]
    exporting_ratio = results[EXPORTING]["rps"] / results["bare FastAPI"]["rps"]
    machine = f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
    if args.markdown:
        print(f"\n{machine}; concurrency {args.concurrency}, {args.duration:.0f} s per target\n")
        print("| target | requests | req/s | p50 ms | p99 ms | server CPU ms/req | statuses |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, r in results.items():
            print(
                f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['server_cpu_ms_per_req']:.2f} | {r['statuses']} |"
            )
        print(f"\ningest / bare throughput: **{ratio:.0%}** (goal >= 50%)")
        print(f"with OTLP export: {exporting_ratio:.0%}")
    else:
        print(f"\n{machine}; concurrency {args.concurrency}, {args.duration:.0f} s per target")
        for name, r in results.items():
            print(
                f"  {name:<24} {r['rps']:8.0f} req/s   p50 {r['p50_ms']:6.1f} ms   "
                f"p99 {r['p99_ms']:6.1f} ms   server CPU {r['server_cpu_ms_per_req']:.2f} ms/req"
                f"   {r['statuses']}"
            )
        print(f"  ingest / bare throughput: {ratio:.0%} (goal >= 50%)")
        print(f"  with OTLP export:         {exporting_ratio:.0%}")
    ok = ratio >= 0.5 and all(set(results[n]["statuses"]) == {202} for n in ("ingest", EXPORTING))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
