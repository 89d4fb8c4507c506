"""The whole system as real processes, for end-to-end tests, chaos and benchmarks.

    with LocalStack(workdir) as stack:
        job = stack.submit(profile, user="user_a")      # POST /v1/agents/analyze
        stack.kill("orchestrator"); stack.start("orchestrator")
        stack.convex.documents("careerRecommendations")

Starts (or reuses) a Kafka broker (embedded tansu, or Apache Kafka with
``kafka="apache"``), the Convex stand-in, and every service as its own
process (``python -m <package>``), with a throw-away Clerk signing key shared by ingest and
the stand-in, so the real JWT verification path runs on both sides.
"""

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from careers_runtime.settings import KafkaSettings

from careers_tools.agent_places import AGENTS
from careers_tools.apache_kafka import ApacheKafka
from careers_tools.embedded_broker import TANSU_CLIENT_ENV, EmbeddedKafka
from careers_tools.local_servers import free_port
from careers_tools.paths import DEV_DIR
from careers_tools.processes import ServiceProcess
from careers_tools.services import LOCAL_KAFKA_ENV, SERVICES, Service
from careers_tools.testing.convex_standin import ConvexStandin
from careers_tools.testing.redis_server import LocalRedis

# The agents whose every result convex-sync writes to Convex's agentOutputs.
# Every agent writes an agentOutputs document per job (the contract's AgentName).
OUTPUT_AGENTS = AGENTS


class LocalStack:
    def __init__(
        self,
        workdir: Path,
        *,
        bootstrap: str | None = None,
        replicas: dict[str, int] | None = None,
        env: dict[str, str] | None = None,
        services: Iterable[str] | None = None,
        kafka: str = "tansu",
        broker_env: dict[str, str] | None = None,
        service_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._own_broker: EmbeddedKafka | ApacheKafka | None = None
        self.bootstrap = bootstrap
        self.kafka = kafka
        # Client settings for the broker (security, idempotence); a caller passing its own
        # bootstrap passes them too, or they come from the inherited environment.
        self.broker_env = dict(broker_env or {})
        self.replicas = replicas or {}
        self.extra_env = dict(env or {})
        # Per service, last: e.g. each service's own Kafka principal (the ACL test).
        self.service_env = service_env or {}
        wanted = set(services) if services is not None else None
        self.specs = [s for s in SERVICES if wanted is None or s.name in wanted]
        self.processes: dict[str, ServiceProcess] = {}
        self.ports: dict[str, int] = {}
        self.convex = ConvexStandin(log_path=workdir / "convex.log")
        # Ingest keeps its job read model in Redis (and the orchestrator its workflow
        # state): a Redis of the stack's own unless ``env`` names one.
        self.redis: LocalRedis | None = None
        self.redis_url = self.extra_env.pop("REDIS_URL", "")
        self.http = httpx.Client(timeout=30)

    # ---------------------------------------------------------------- lifecycle

    def start_all(self) -> "LocalStack":
        if self.bootstrap is None:
            if self.kafka == "apache":
                kafka = ApacheKafka(nodes=1, workdir=self.workdir / "kafka")
                self._own_broker = kafka.start()
                self.broker_env = kafka.client_env() | self.broker_env
            else:
                self._own_broker = EmbeddedKafka(log_file=self.workdir / "broker.log").start()
                self.broker_env = TANSU_CLIENT_ENV | self.broker_env
            self.bootstrap = self._own_broker.bootstrap
        if not self.redis_url:
            self.redis = LocalRedis(log_file=self.workdir / "redis.log").start()
            self.redis_url = self.redis.url
        self.convex.start()
        for spec in self.specs:
            for index in range(self.replicas.get(spec.name, 1)):
                self.start(self.instance_name(spec.name, index), wait=False)
        for name in self.processes:
            self.wait_ready(name)
        return self

    @staticmethod
    def instance_name(service: str, index: int) -> str:
        return service if index == 0 else f"{service}-{index + 1}"

    def spec(self, name: str) -> Service:
        for spec in self.specs:
            if name == spec.name or name.startswith(spec.name + "-"):
                return spec
        raise KeyError(name)

    def kafka_env(self) -> dict[str, str]:
        """The Kafka variables every service of the stack gets (before ``env``'s)."""
        assert self.bootstrap is not None
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            **LOCAL_KAFKA_ENV,
            **self.broker_env,
        }

    def kafka_settings(self) -> KafkaSettings:
        """How the stack's services connect to Kafka, for tools run beside them."""
        env = {**os.environ, **self.kafka_env(), **self.extra_env}
        fields = KafkaSettings.model_fields
        values: dict[str, Any] = {k.lower(): v for k, v in env.items() if k.lower() in fields}
        return KafkaSettings(**values)

    def env_for(self, name: str) -> dict[str, str]:
        port = self.ports.setdefault(name, free_port())
        return {
            "ENVIRONMENT": "test",
            "LOG_FORMAT": "json",
            **self.kafka_env(),
            **self.spec(name).env(port),
            "CLERK_JWT_KEY": self.convex.public_pem,
            "CLERK_ISSUER": self.convex.issuer,
            "CLERK_AUTHORIZED_PARTIES": "",
            "CLERK_JWKS_URL": "",
            "RATE_LIMIT": "10000/minute",
            "CONVEX_URL": self.convex.url,
            "CONVEX_SITE_URL": self.convex.url,
            "CONVEX_SYNC_SECRET": self.convex.secret,
            "ORCHESTRATOR_CHECKPOINT_PATH": str(self.workdir / "orchestrator.sqlite3"),
            "REDIS_URL": self.redis_url,
            **self.extra_env,
            **self.service_env.get(name, {}),
        }

    def start(self, name: str, *, wait: bool = True) -> ServiceProcess:
        spec = self.spec(name)
        process = ServiceProcess(
            spec.module, self.env_for(name), self.workdir / f"{name}.log"
        ).start()
        self.processes[name] = process
        if wait:
            self.wait_ready(name)
        return process

    def wait_ready(self, name: str, timeout_s: float = 90) -> None:
        self.processes[name].wait_http(self.url(name, self.spec(name).ready_path), timeout_s)

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    def broker_pids(self) -> list[int]:
        """The pids of the broker this stack started (tansu, or each Apache Kafka node)."""
        broker = self._own_broker
        if isinstance(broker, ApacheKafka):
            return [n.process.pid for n in broker.node_list if n.process is not None]
        if broker is not None and broker.process is not None:
            return [broker.process.pid]
        return []

    def kill(self, name: str) -> None:
        """SIGKILL: no drain, no commit, no leaving the group."""
        self.processes[name].kill()

    def terminate(self, name: str, timeout_s: float = 60) -> float:
        """SIGTERM and wait; returns the seconds the process took to exit."""
        started = time.monotonic()
        process = self.processes[name]
        process.signal(signal.SIGTERM)
        assert process.process is not None
        process.process.wait(timeout=timeout_s)
        return time.monotonic() - started

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            with contextlib.suppress(Exception):
                self.processes[name].stop()
        with contextlib.suppress(Exception):
            self.convex.stop()
        if self._own_broker is not None:
            self._own_broker.stop()
        if self.redis is not None:
            self.redis.stop()
        self.http.close()

    def __enter__(self) -> "LocalStack":
        try:
            return self.start_all()
        except BaseException:
            self.stop_all()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    # ------------------------------------------------------------------ the API

    def token(self, user: str) -> str:
        return self.convex.token(user, ttl_s=3600)

    def submit(self, profile: dict[str, Any], user: str, idempotency_key: str | None = None) -> str:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.http.post(
            self.url("ingest", "/v1/agents/analyze"), json=profile, headers=headers
        )
        if response.status_code != 202:
            raise RuntimeError(f"submit failed: {response.status_code} {response.text}")
        job_id: str = response.json()["jobId"]
        return job_id

    def job(self, job_id: str, user: str) -> httpx.Response:
        return self.http.get(
            self.url("ingest", f"/v1/jobs/{job_id}"),
            headers={"Authorization": f"Bearer {self.token(user)}"},
        )

    def landed(self, job_ids: Iterable[str]) -> bool:
        """Whether every job's recommendations and both agents' outputs are in Convex.

        convex-sync writes them from different topics, so a job's recommendations may
        land before its last agent output: wait for both before counting either."""
        wanted = set(job_ids)
        done = {d["jobId"] for d in self.convex.documents("careerRecommendations")}
        outputs = {(d["jobId"], d["agent"]) for d in self.convex.documents("agentOutputs")}
        return wanted <= done and all((j, a) in outputs for j in wanted for a in OUTPUT_AGENTS)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.tail(30)}" for name, p in self.processes.items())


def default_workdir(name: str) -> Path:
    return Path(os.environ.get("CAREERS_WORKDIR", DEV_DIR)) / name
