"""Every image built and run as production runs it (`make test-images`).

Builds the Dockerfile's targets (`careers_tools.images`: cached layers reused), starts
Apache Kafka and a Redis on free loopback ports, creates the topics with the tools image,
then runs the Convex stand-in and the five services as containers: non-root,
``--read-only`` with a tmpfs ``/tmp``, ``--cap-drop=ALL``, host network bound to
127.0.0.1, with the production settings of ``deploy/k8s/overlays/production`` except
addresses (and plaintext Kafka on loopback: ``KAFKA_ALLOW_PLAINTEXT=true``). Each image's
own HEALTHCHECK must pass, a signed-in submit must reach both Convex documents (read back
signed in, as the web app does), and each container must exit 0 on SIGTERM within its
grace period. The containers are driven with testcontainers through the engine's
Docker-compatible API: Docker's, or ``podman system service``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from careers_tools import apache_kafka, images
from careers_tools.apache_kafka import ApacheKafka, make_test_pki
from careers_tools.local_servers import free_port
from careers_tools.testing.convex_standin import ConvexStandin
from careers_tools.testing.redis_server import LocalRedis
from testcontainers.core.container import DockerContainer

from .rendering import ROOT, SERVICES, of_kind, render

pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]

# Uncompressed sizes, MB (docs/operations.md#images): what slimming reached, with room.
SIZE_TARGETS = {
    "ingest": 450,
    "orchestrator": 450,
    "profile-analyzer": 450,
    "career-matcher": 600,
    "convex-sync": 450,
    "tools": 450,
    "convex-standin": 450,
}
CA_IN_CONTAINER = "/etc/careers/ca.pem"
AUTHORIZED_PARTY = "https://app.example.com"  # the production overlay's CLERK_AUTHORIZED_PARTIES
# The ingest HEALTHCHECK before the fix: it probed HTTP_PORT, where /healthz is not served
# once INTERNAL_HTTP_PORT is set.
OLD_INGEST_CHECK = [
    "python",
    "-c",
    "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HTTP_PORT', '8080'), timeout=2)",
]


# ------------------------------------------------------------------------ engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[images.Engine]:
    """The engine, with DOCKER_HOST pointing testcontainers at its Docker-compatible API."""
    engine = images.find_engine()
    saved = {k: os.environ.get(k) for k in ("DOCKER_HOST", "TESTCONTAINERS_RYUK_DISABLED")}
    # Ryuk (testcontainers' reaper) is an image from a registry: the fixtures remove what
    # they start instead.
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    service: subprocess.Popen[bytes] | None = None
    if engine.name == "podman":
        socket = tmp_path_factory.mktemp("podman") / "podman.sock"
        service = subprocess.Popen(
            [engine.path, "system", "service", "--time=0", f"unix://{socket}"],
            env=engine.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert service.poll() is None, "podman system service exited"
            assert time.monotonic() < deadline, "podman system service did not listen"
            time.sleep(0.1)
        os.environ["DOCKER_HOST"] = f"unix://{socket}"
    try:
        yield engine
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def say(request: pytest.FixtureRequest, line: str) -> None:
    """Print past pytest's output capture: every run shows sizes and timings."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{line}", end="", flush=True)


@pytest.fixture(scope="module")
def built(engine: images.Engine, request: pytest.FixtureRequest) -> dict[str, int]:
    took = images.build(engine=engine)
    sizes = images.sizes(engine)
    for target, size in sizes.items():
        built_in = f"built in {took[target]:.0f} s"
        say(request, f"image {images.image(target):42} {size / 1e6:6.0f} MB ({built_in})")
    return sizes


def start(
    target: str,
    env: dict[str, str],
    *,
    command: list[str] | None = None,
    user: str | None = None,
    read_only: bool = True,
    volumes: dict[str, str] | None = None,
) -> DockerContainer:
    """``run --network host --read-only --tmpfs /tmp --cap-drop ALL`` (production's way)."""
    container = (
        DockerContainer(images.image(target))
        .with_envs(**env)
        .with_tmpfs_mount("/tmp")
        .with_kwargs(
            network_mode="host",
            read_only=read_only,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            **({"user": user} if user else {}),
        )
    )
    for host, inside in (volumes or {}).items():
        container.with_volume_mapping(host, inside, "ro")
    if command:
        container.with_command(command)
    return container.start()


def stop(container: DockerContainer) -> None:
    with contextlib.suppress(Exception):
        container.get_wrapped_container().remove(force=True)


def logs(container: DockerContainer, lines: int = 40) -> str:
    out, err = container.get_logs()
    text = (out + err).decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


# ------------------------------------------------------------- the checks themselves

# What the engine itself mounts into every container (name resolution, its marker file):
# they show up in a container's changes although the container wrote nothing.
ENGINE_FILES = frozenset(
    {
        "/tmp",
        "/etc",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/run",
        "/run/.containerenv",
    }
)
PODMAN_TMPFS = ("/run", "/var/tmp")


def exec_in(container: DockerContainer, command: list[str]) -> tuple[int, str]:
    result = container.get_wrapped_container().exec_run(command)
    return result.exit_code, result.output.decode(errors="replace")


def health_command(container: DockerContainer) -> list[str]:
    """The image's own HEALTHCHECK, as the engine would run it."""
    # podman 4.3's Docker-compatible API leaves Healthcheck out of an image's inspect
    # output: ask the engine's CLI (Docker: Config.Healthcheck; podman: top level).
    data: dict[str, Any] = images.find_engine().inspect(str(container.image))
    config = data.get("Healthcheck") or data.get("Config", {}).get("Healthcheck") or {}
    test: list[str] = config.get("Test") or []
    assert test and test[0] in ("CMD", "CMD-SHELL"), f"{container.image}: no HEALTHCHECK"
    return test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]


def healthy(container: DockerContainer, command: list[str] | None = None) -> bool:
    code, _ = exec_in(container, command or health_command(container))
    return code == 0


def wait_healthy(container: DockerContainer, timeout_s: float = 90) -> float:
    started = time.monotonic()
    while True:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        assert wrapped.status == "running", f"{container.image} exited:\n{logs(container)}"
        if healthy(container):
            break
        assert time.monotonic() - started < timeout_s, (
            f"{container.image} not healthy in {timeout_s} s:\n{logs(container)}"
        )
        time.sleep(1)
    return time.monotonic() - started


def assert_non_root(container: DockerContainer) -> None:
    """The container's main process: no uid 0 (real, effective, saved, fs), no capabilities."""
    code, status = exec_in(container, ["cat", "/proc/1/status"])
    assert code == 0, status
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uids = fields["Uid"].split()
    assert "0" not in uids, f"{container.image} runs as root (uids {uids})"
    assert int(fields["CapEff"], 16) == 0, f"{container.image} has capabilities {fields['CapEff']}"


def assert_writes_only_tmp(container: DockerContainer) -> None:
    """The root filesystem is mounted read-only and nothing was written outside /tmp."""
    name = container.image
    code, mounts = exec_in(container, ["cat", "/proc/1/mounts"])
    assert code == 0, mounts
    options = {line.split()[1]: line.split()[3].split(",") for line in mounts.splitlines()}
    problems = [] if "ro" in options["/"] else ["root fs writable"]
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    # Mount points (e.g. a CA file mounted read-only) appear as changes too.
    binds = {Path(m["Destination"]) for m in wrapped.attrs.get("Mounts") or []}
    allowed = ENGINE_FILES | {str(p) for m in binds for p in (m, *m.parents)}
    changes = [c["Path"] for c in wrapped.diff() or []]
    outside = [p for p in changes if p not in allowed and not p.startswith("/tmp/")]
    # podman's --read-only also mounts writable tmpfs on /run and /var/tmp, which a
    # Kubernetes readOnlyRootFilesystem does not: whatever lands there counts too.
    code, listing = exec_in(container, ["find", *PODMAN_TMPFS, "-mindepth", "1", "!", "-type", "d"])
    extra = [p for p in listing.split() if p.startswith("/") and p not in ENGINE_FILES]
    if outside + extra:
        problems.append(f"wrote outside /tmp: {outside + extra}")
    assert not problems, f"{name}: {'; '.join(problems)}"


def assert_runs_as_production(container: DockerContainer) -> None:
    assert_non_root(container)
    assert_writes_only_tmp(container)


def stop_gracefully(container: DockerContainer, grace_s: float) -> float:
    """SIGTERM; the container must exit 0 within ``grace_s``. Returns the seconds taken."""
    wrapped = container.get_wrapped_container()
    started = time.monotonic()
    wrapped.kill(signal="SIGTERM")
    try:
        result = wrapped.wait(timeout=grace_s)
    except Exception as exc:  # the engine's client raises on timeout
        raise AssertionError(
            f"{container.image} still running {grace_s} s after SIGTERM:\n{logs(container)}"
        ) from exc
    took = time.monotonic() - started
    assert result["StatusCode"] == 0, (
        f"{container.image} exited {result['StatusCode']} on SIGTERM:\n{logs(container)}"
    )
    return took


# ------------------------------------------------------------ production settings


def production_env() -> dict[str, dict[str, str]]:
    """Each Deployment's literal settings in deploy/k8s/overlays/production (ConfigMaps and
    plain values; secrets are supplied by the test)."""
    docs = render("overlays/production")
    config_maps = of_kind(docs, "ConfigMap")
    out: dict[str, dict[str, str]] = {}
    for name, deployment in of_kind(docs, "Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env |= config_maps[source["configMapRef"]["name"]]["data"]
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
        out[name] = env
    return out


def grace_periods() -> dict[str, int]:
    docs = render("overlays/production")
    return {
        name: d["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        for name, d in of_kind(docs, "Deployment").items()
    }


# ---------------------------------------------------------------------- the stack


class TlsFront:
    """https on a loopback port in front of the stand-in's http one: production's
    convex-sync accepts only an https CONVEX_SITE_URL (a real deployment's)."""

    def __init__(self, upstream_port: int, pki: apache_kafka.TestPki) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(pki.server_pem)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> TlsFront:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.context),
            self.loop,
        ).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def backing(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ApacheKafka, LocalRedis, apache_kafka.TestPki]]:
    workdir = tmp_path_factory.mktemp("images")
    kafka = ApacheKafka(nodes=1, workdir=workdir / "kafka").start()
    redis = LocalRedis(log_file=workdir / "redis.log").start()
    pki = make_test_pki(workdir / "pki")
    pki.ca_file.chmod(0o644)  # read by the container's non-root user
    try:
        yield kafka, redis, pki
    finally:
        redis.stop()
        kafka.stop()


def test_images_stay_within_their_size_targets(built: dict[str, int]) -> None:
    """docs/operations.md#images: the targets set when the images were slimmed."""
    over = {t: round(size / 1e6) for t, size in built.items() if size > SIZE_TARGETS[t] * 1e6}
    assert not over, f"images over their size target (MB): {over} (targets {SIZE_TARGETS})"


def test_the_orchestrator_without_redis_keeps_its_checkpoints_under_tmp(
    built: dict[str, int], backing: tuple[ApacheKafka, LocalRedis, apache_kafka.TestPki]
) -> None:
    """Single replica, no REDIS_URL (not production): the default SQLite file must be
    writable in a read-only container (it was under root-owned /app)."""
    kafka = backing[0]
    port = free_port()
    container = start(
        "orchestrator",
        {
            "ENVIRONMENT": "test",
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "ORCHESTRATOR_CONSUMER_GROUP": "images-sqlite",
        },
    )
    try:
        wait_healthy(container)
        assert_runs_as_production(container)
        code, listing = exec_in(container, ["ls", "/tmp"])
        assert code == 0 and "orchestrator.sqlite3" in listing, listing
    finally:
        stop(container)


def test_every_image_runs_as_production_and_a_signed_in_submit_lands(
    built: dict[str, int],
    backing: tuple[ApacheKafka, LocalRedis, apache_kafka.TestPki],
    request: pytest.FixtureRequest,
) -> None:
    kafka, redis, pki = backing
    assert set(built) == set(images.TARGETS)
    settings = production_env()
    grace = grace_periods()
    assert set(settings) == set(SERVICES)
    convex = ConvexStandin(port=free_port())  # its key, tokens and queries; the image serves
    containers: dict[str, DockerContainer] = {}
    front = TlsFront(convex.port, pki).__enter__()
    try:
        # The topics job, as the k8s Job / compose `topics` service runs it.
        topics = start(
            "tools",
            {},
            command=[
                "python",
                "-m",
                "careers_runtime.topics_admin",
                "--bootstrap",
                kafka.bootstrap,
                "--replication-factor",
                "1",
            ],
        )
        containers["topics"] = topics
        exit_code = topics.get_wrapped_container().wait(timeout=120)["StatusCode"]
        assert exit_code == 0, logs(topics)

        containers["convex-standin"] = start(
            "convex-standin",
            {
                "CONVEX_STANDIN_HOST": "127.0.0.1",
                "CONVEX_STANDIN_PORT": str(convex.port),
                "CONVEX_SYNC_SECRET": convex.secret,
                "CLERK_JWT_KEY": convex.public_pem,
                "CLERK_ISSUER": convex.issuer,
            },
        )
        ports: dict[str, int] = {}
        for index, name in enumerate(SERVICES):
            env = dict(settings[name])
            for key in ("KAFKA_SASL_MECHANISM", "KAFKA_SSL_CAFILE", "OTEL_EXPORTER_OTLP_ENDPOINT"):
                env.pop(key, None)  # the cluster's TLS/SASL and collector addresses
            ports[name] = free_port()
            env |= {
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
                "KAFKA_ALLOW_PLAINTEXT": "true",  # loopback only, no TLS listener here
                "KAFKA_TOPIC_REPLICATION_FACTOR": "1",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(ports[name]),
                "REDIS_URL": f"redis://127.0.0.1:{redis.port}/{index}",
            }
            assert env["ENVIRONMENT"] == "production", name
            if "INTERNAL_HTTP_PORT" in env:  # probes and metrics: one host, one port each
                env["INTERNAL_HTTP_PORT"] = str(free_port())
            if name == "ingest":
                assert "INTERNAL_HTTP_PORT" in env
                env |= {
                    "CLERK_ISSUER": convex.issuer,
                    "CLERK_JWT_KEY": convex.public_pem,  # networkless verification
                    "CLERK_JWKS_URL": "",
                }
            volumes: dict[str, str] = {}
            if name == "convex-sync":
                env |= {
                    "CONVEX_SITE_URL": f"https://127.0.0.1:{front.port}",
                    "CONVEX_SYNC_SECRET": convex.secret,
                    "SSL_CERT_FILE": CA_IN_CONTAINER,  # trusts the test CA, as a cluster's
                }
                volumes[str(pki.ca_file)] = CA_IN_CONTAINER
            containers[name] = start(name, env, volumes=volumes)

        for name, container in containers.items():
            if name == "topics":
                continue
            took = wait_healthy(container)
            assert_runs_as_production(container)
            say(request, f"{name}: healthy {took:.1f} s after start")
        # The old ingest check fails against the same healthy container: a wrong health
        # check is caught by running the image's own.
        assert not healthy(containers["ingest"], OLD_INGEST_CHECK)

        # A signed-in submit, read back signed in (as the web app does) from both tables.
        user = "user_images"
        token = convex.token(user, ttl_s=600, azp=AUTHORIZED_PARTY)
        profile = json.loads((ROOT / "examples" / "profile.json").read_text(encoding="utf-8"))
        response = httpx.post(
            f"http://127.0.0.1:{ports['ingest']}/v1/agents/analyze",
            json=profile,
            headers={"Authorization": f"Bearer {token}", "Origin": AUTHORIZED_PARTY},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["jobId"]

        def landed() -> bool:
            outputs = convex.query("agentOutputs:listByJob", {"jobId": job_id}, token=token)
            recommendations = convex.query(
                "careerRecommendations:getByJob", {"jobId": job_id}, token=token
            )
            agents = {o["agent"] for o in outputs}
            return recommendations is not None and {"profile-analyzer", "career-matcher"} <= agents

        submitted = time.monotonic()
        wait_for(
            landed, 120, lambda: "\n".join(f"--- {n}\n{logs(c)}" for n, c in containers.items())
        )

        say(
            request,
            f"signed-in submit -> both Convex documents in {time.monotonic() - submitted:.1f} s",
        )
        # The stand-in verified the token: signed out, or as someone else, nothing is seen.
        other = convex.token("user_other", ttl_s=600, azp=AUTHORIZED_PARTY)
        assert convex.query("agentOutputs:listByJob", {"jobId": job_id}) == []
        assert convex.query("agentOutputs:listByJob", {"jobId": job_id}, token=other) == []
        # Still production-shaped after the work: nothing written outside /tmp.
        for name, container in containers.items():
            if name != "topics":
                assert_runs_as_production(container)
        # Ingest first (no new work), then the workers, then Convex, as a rollout drains.
        for name in ["ingest", *(s for s in SERVICES if s != "ingest"), "convex-standin"]:
            took = stop_gracefully(containers[name], grace.get(name, 30))
            say(request, f"{name}: exit 0 on SIGTERM in {took:.1f} s")
    finally:
        for container in containers.values():
            stop(container)
        front.__exit__()
        convex.http.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, why()
        time.sleep(0.5)


# ------------------------------------------- the checks fail when they should


@pytest.fixture
def idle() -> Iterator[Callable[..., DockerContainer]]:
    """A tools-image container that just waits (the smallest Python image)."""
    started: list[DockerContainer] = []

    def run(**kwargs: Any) -> DockerContainer:
        command = kwargs.pop("command", ["python", "-c", "import time; time.sleep(300)"])
        container = start("tools", {}, command=command, **kwargs)
        started.append(container)
        time.sleep(1)
        return container

    yield run
    for container in started:
        stop(container)


def test_the_check_fails_for_a_container_running_as_root(
    built: dict[str, int], idle: Callable[..., DockerContainer]
) -> None:
    with pytest.raises(AssertionError, match="runs as root"):
        assert_runs_as_production(idle(user="0:0"))


def test_the_check_fails_for_a_container_writing_outside_tmp(
    built: dict[str, int], idle: Callable[..., DockerContainer]
) -> None:
    def writer(path: str) -> list[str]:
        code = f"import pathlib, time; pathlib.Path({path!r}).write_text('x'); time.sleep(300)"
        return ["python", "-c", code]

    # Read-only as production runs it: even root cannot write /app, the container exits.
    container = idle(command=writer("/app/x"), user="0:0")
    assert container.get_wrapped_container().wait(timeout=60)["StatusCode"] != 0
    assert "Read-only file system" in logs(container)
    # With a writable root filesystem the write succeeds, and the check reports both.
    with pytest.raises(AssertionError, match=r"root fs writable; wrote outside /tmp: \[.*'/app/x'"):
        assert_writes_only_tmp(idle(command=writer("/app/x"), user="0:0", read_only=False))
    if images.find_engine().name == "podman":
        # podman's extra writable tmpfs (/var/tmp, /run): a write there is reported too.
        with pytest.raises(AssertionError, match=r"wrote outside /tmp: \['/var/tmp/x'\]"):
            assert_writes_only_tmp(idle(command=writer("/var/tmp/x")))


def test_the_check_fails_for_a_container_without_a_passing_health_check(
    built: dict[str, int], idle: Callable[..., DockerContainer]
) -> None:
    # The tools image declares no HEALTHCHECK (a one-shot job); a service image whose
    # server never starts fails its own.
    with pytest.raises(AssertionError, match="no HEALTHCHECK"):
        health_command(idle())
    container = start("orchestrator", {}, command=["python", "-c", "import time; time.sleep(300)"])
    try:
        assert not healthy(container)
        with pytest.raises(AssertionError, match="not healthy in 3 s"):
            wait_healthy(container, timeout_s=3)
    finally:
        stop(container)
