"""``make dev``: the whole system on one machine, each service its own process.

Starts the embedded broker — or Apache Kafka with ``--kafka apache`` (``make dev
KAFKA=apache``); neither when ``KAFKA_BOOTSTRAP_SERVERS`` is set — the local Convex
stand-in, then every service, prefixes their output (``[ingest] ...``), prints the URLs
and waits. Ctrl-C (or SIGTERM) stops services in reverse order, each with SIGTERM and its
grace period, then the broker.

Environment wins over ``.env``, which wins over the dev defaults set here.
"""

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from dotenv import dotenv_values

from careers_runtime.apache_kafka import ApacheKafka, KafkaUnavailableError
from careers_runtime.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka

ROOT = Path(__file__).resolve().parents[3]
DEV_DIR = ROOT / ".dev"
COLORS = ["36", "35", "33", "32", "34", "31", "96"]


@dataclass
class Service:
    name: str
    command: list[str]
    port: int
    health_path: str = "/healthz"
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    module: str | None = None

    def available(self) -> bool:
        if self.module is None:
            return True
        return importlib.util.find_spec(self.module) is not None


def python_service(name: str, module: str, port: int) -> Service:
    return Service(
        name,
        [sys.executable, "-m", module],
        port,
        module=f"{module}.__main__",
        env={"HTTP_PORT": str(port), "SERVICE_NAME": name},
    )


SERVICES = [
    python_service("orchestrator", "orchestrator", 8081),
    python_service("profile-analyzer", "profile_analyzer", 8082),
    python_service("career-matcher", "career_matcher", 8083),
    python_service("convex-sync", "convex_sync", 8084),
    python_service("ingest", "ingest", 8000),
]


def convex_standin(port: int) -> Service | None:
    directory = ROOT / "deploy" / "convex"
    if not (directory / "standin").exists() or shutil.which("node") is None:
        return None
    # node directly, not `npm run`: npm does not forward SIGTERM to its child.
    return Service(
        "convex",
        ["node", "--import", "tsx", "standin/main.ts", "--port", str(port)],
        port,
        health_path="/healthz",
        cwd=directory,
    )


def dev_defaults() -> dict[str, str]:
    return {
        "ENVIRONMENT": "dev",
        "LOG_FORMAT": "text",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "CONVEX_URL": "http://127.0.0.1:3210",
        "CONVEX_SITE_URL": "http://127.0.0.1:3210",
        "CONVEX_SYNC_SECRET": "dev-convex-sync-secret",
    }


def dev_hooks(env: dict[str, str]) -> None:
    """Let services contribute dev-only settings (e.g. ingest's local Clerk keys)."""
    if importlib.util.find_spec("ingest.dev_keys") is not None:
        from ingest.dev_keys import dev_environment  # type: ignore[import-not-found]

        for key, value in dev_environment(DEV_DIR).items():
            env.setdefault(key, value)


class Stack:
    def __init__(self, services: list[Service], env: dict[str, str]) -> None:
        self.services = services
        self.env = env
        self.processes: list[tuple[Service, subprocess.Popen[bytes]]] = []

    def _pump(self, service: Service, process: subprocess.Popen[bytes], color: str) -> None:
        assert process.stdout is not None
        prefix = (
            f"\033[{color}m[{service.name}]\033[0m "
            if sys.stdout.isatty()
            else f"[{service.name}] "
        )
        for line in iter(process.stdout.readline, b""):
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()

    def start(self, service: Service, color: str) -> None:
        process = subprocess.Popen(
            service.command,
            cwd=service.cwd,
            env={**self.env, **service.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((service, process))
        threading.Thread(target=self._pump, args=(service, process, color), daemon=True).start()

    def wait_healthy(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        pending = [(s, p) for s, p in self.processes]
        while pending and time.monotonic() < deadline:
            for service, process in list(pending):
                if process.poll() is not None:
                    raise SystemExit(f"{service.name} exited with code {process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (
                        httpx.get(
                            f"http://127.0.0.1:{service.port}{service.health_path}", timeout=1
                        ).status_code
                        < 500
                    ):
                        pending.remove((service, process))
            time.sleep(0.3)
        if pending:
            raise SystemExit("not healthy in time: " + ", ".join(s.name for s, _ in pending))

    def stop(self) -> None:
        for _service, process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for service, process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"[dev] {service.name} did not stop in 30 s; killing", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="start only these services")
    parser.add_argument(
        "--kafka",
        choices=("tansu", "apache"),
        default=os.environ.get("KAFKA", "tansu") or "tansu",
        help="the local broker: embedded tansu (default) or Apache Kafka (needs Java 17+)",
    )
    args = parser.parse_args(argv)

    env = dev_defaults()
    env.update({k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None})
    env.update(os.environ)
    DEV_DIR.mkdir(exist_ok=True)
    dev_hooks(env)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    broker: EmbeddedKafka | ApacheKafka | None = None
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        port = int(env.get("EMBEDDED_KAFKA_PORT", "9092"))
        if args.kafka == "apache":
            print("[dev] starting Apache Kafka (KRaft, one node)...", flush=True)
            shutil.rmtree(DEV_DIR / "kafka", ignore_errors=True)  # a dev broker starts empty
            try:
                broker = ApacheKafka(nodes=1, first_port=port, workdir=DEV_DIR / "kafka").start()
            except KafkaUnavailableError as exc:
                print(f"[dev] {exc}", file=sys.stderr, flush=True)
                return 69
            broker_env = broker.client_env()
        else:
            broker = EmbeddedKafka(port=port, log_file=DEV_DIR / "broker.log").start()
            broker_env = dict(TANSU_CLIENT_ENV)
        broker_env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        for key, value in broker_env.items():
            env.setdefault(key, value)  # the environment and .env still win
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        print(f"[dev] {args.kafka} Kafka broker on {broker.bootstrap}", flush=True)

    services = [s for s in SERVICES if s.available() and (not args.only or s.name in args.only)]
    skipped = [s.name for s in SERVICES if not s.available()]
    standin = convex_standin(int(env.get("CONVEX_STANDIN_PORT", "3210")))
    if standin is not None and (not args.only or "convex" in args.only):
        services.insert(0, standin)
    stack = Stack(services, env)
    try:
        for i, service in enumerate(services):
            stack.start(service, COLORS[i % len(COLORS)])
        stack.wait_healthy()
        print_banner(services, env, skipped)
        while not stop.is_set():
            for service, process in stack.processes:
                if process.poll() is not None:
                    print(
                        f"[dev] {service.name} exited ({process.returncode}); stopping", flush=True
                    )
                    stop.set()
            stop.wait(0.5)
    finally:
        print("[dev] stopping...", flush=True)
        stack.stop()
        if broker is not None:
            broker.stop()
        print("[dev] stopped", flush=True)
    return 0


def print_banner(services: list[Service], env: dict[str, str], skipped: list[str]) -> None:
    lines = ["", "=" * 72, "The career agents stack is up:"]
    for service in services:
        lines.append(f"  {service.name:<17} http://127.0.0.1:{service.port}")
    lines.append(f"  {'kafka':<17} {env['KAFKA_BOOTSTRAP_SERVERS']}")
    if any(s.name == "ingest" for s in services):
        lines += [
            "",
            "  API docs:   http://127.0.0.1:8000/docs",
            "  Metrics:    http://127.0.0.1:<port>/metrics on every service",
            "  Try it:     TOKEN=$(make -s token SUB=user_123)",
            "              curl -s -X POST http://127.0.0.1:8000/v1/agents/analyze \\",
            "                -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
            "                -d @examples/profile.json",
            "  Or:         make demo",
        ]
    if skipped:
        lines.append(f"  (not yet available: {', '.join(skipped)})")
    lines += ["Ctrl-C stops everything.", "=" * 72, ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
