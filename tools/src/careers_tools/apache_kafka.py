"""Apache Kafka on loopback for tests, ``make dev KAFKA=apache`` and ``make chaos-cluster``.

The broker is the real ``kafka.Kafka`` (KRaft, combined broker+controller nodes) from the
jars that ``make install-kafka`` resolves from Maven Central through ``deploy/kafka/pom.xml``
into ``.tools/kafka/libs`` (or ``KAFKA_LIBS_DIR``). One node for tests and dev; three for
production's topic settings (replication factor 3, ``min.insync.replicas=2``) and broker
failover. With ``secure=True`` every node also has a SASL_SSL listener (SCRAM-SHA-512 users
added at format time, a CA and server certificate made at start) — what MSK, Confluent and
Strimzi clusters look like to a client.

    python -m careers_tools.apache_kafka [--nodes 3] [--secure] [--port 9092]

JVMs are tied to the launching process (Linux ``PR_SET_PDEATHSIG``) and stopped by
``stop()``/the context manager, so neither Ctrl-C nor a failed test leaves one behind.
"""

import argparse
import asyncio
import base64
import contextlib
import ctypes
import datetime as dt
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from careers_tools.local_servers import LocalServer, free_port, stop_on_signals, terminate
from careers_tools.paths import REPO_ROOT

log = logging.getLogger(__name__)

SCRAM_MECHANISM = "SCRAM-SHA-512"
# Sized for a shared 2-core machine: small heap, one GC thread, C1 only (fast start; the
# broker's hot paths are I/O and syscalls). Override with KAFKA_JVM_OPTS.
DEFAULT_JVM_OPTS = (
    "-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 "
    "-Djava.awt.headless=true -Dfile.encoding=UTF-8"
)
LOG4J2_CONFIG = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d{ISO8601}{UTC}Z] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
      - name: org.apache.kafka.controller.QuorumController
        level: INFO
"""


class KafkaUnavailableError(RuntimeError):
    """Apache Kafka could not be installed, started or reached."""


def kafka_libs_dir() -> Path:
    """The broker's classpath folder: ``KAFKA_LIBS_DIR`` or the repo's ``.tools/kafka/libs``."""
    configured = os.environ.get("KAFKA_LIBS_DIR")
    libs = Path(configured) if configured else REPO_ROOT / ".tools" / "kafka" / "libs"
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise KafkaUnavailableError(
            f"Apache Kafka jars not found in {libs}: run `make install-kafka` "
            "(needs Java 17+ and Maven) or set KAFKA_LIBS_DIR"
        )
    return libs


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# ------------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TestPki:
    """A CA and a server certificate for 127.0.0.1/localhost, made at start (never kept)."""

    ca_file: Path
    server_pem: Path  # private key (PKCS#8) + certificate chain: Kafka's PEM keystore


def make_test_pki(directory: Path) -> TestPki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "careers test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_pem = directory / "server.pem"
    server_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    server_pem.chmod(0o600)
    return TestPki(ca_file=ca_file, server_pem=server_pem)


# ------------------------------------------------------------------------------ nodes


@dataclass
class KafkaNode:
    node_id: int
    plaintext_port: int
    controller_port: int
    secure_port: int | None
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def random_cluster_id() -> str:
    """A KRaft cluster id as ``kafka-storage random-uuid`` makes it: a random UUID in
    URL-safe base64, never starting with ``-`` (Kafka's ``Uuid.randomUuid`` skips those:
    ``kafka-storage format --cluster-id -x…`` would read the id as an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass
class ApacheKafka(LocalServer):
    """``with ApacheKafka(nodes=3, secure=True) as kafka: kafka.bootstrap`` — a running KRaft
    cluster on loopback with the registry's topics created.

    ``bootstrap`` is the PLAINTEXT listener; with ``secure``, ``secure_bootstrap`` is the
    SASL_SSL one and ``users`` maps SCRAM user names to passwords, ``pki.ca_file`` is the CA.
    """

    nodes: int = 1
    secure: bool = False
    users: dict[str, str] = field(default_factory=dict)
    # With ``secure``: StandardAuthorizer with allow.everyone.if.no.acl.found=false, so a
    # SASL_SSL client may do only what ACLs allow (``careers_tools.acls``). The PLAINTEXT
    # listener (inter-broker, controller, and the test's own setup) is the super user
    # User:ANONYMOUS: it is loopback-only and exists for the cluster itself.
    authorizer: bool = False
    workdir: Path | None = None
    first_port: int | None = None  # node 1's PLAINTEXT port (dev: 9092); others are free ports
    create_topics: bool = True
    jvm_opts: str = field(
        default_factory=lambda: os.environ.get("KAFKA_JVM_OPTS", DEFAULT_JVM_OPTS)
    )

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise ValueError("nodes must be at least 1")
        self._own_workdir = self.workdir is None
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix="careers-kafka-"))
        self.cluster_id = random_cluster_id()
        if self.secure and not self.users:
            self.users = {"careers": secrets.token_urlsafe(18)}
        self.pki: TestPki | None = None
        self.node_list = [
            KafkaNode(
                node_id=i,
                plaintext_port=self.first_port if (i == 1 and self.first_port) else free_port(),
                controller_port=free_port(),
                secure_port=free_port() if self.secure else None,
                directory=self.workdir / f"node-{i}",
            )
            for i in range(1, self.nodes + 1)
        ]

    # -- addresses ---------------------------------------------------------------------
    @property
    def replication_factor(self) -> int:
        return min(3, self.nodes)

    @property
    def min_insync_replicas(self) -> int:
        return 2 if self.nodes >= 3 else 1

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.plaintext_port}" for n in self.node_list)

    @property
    def secure_bootstrap(self) -> str:
        if not self.secure:
            raise KafkaUnavailableError("this cluster has no SASL_SSL listener")
        return ",".join(f"127.0.0.1:{n.secure_port}" for n in self.node_list)

    def client_env(self, user: str | None = None) -> dict[str, str]:
        """Environment for a service on this cluster (the SASL_SSL listener when secure)."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "true",
            "KAFKA_TOPIC_REPLICATION_FACTOR": str(self.replication_factor),
        }
        if self.secure:
            assert self.pki is not None
            name = user or next(iter(self.users))
            env |= {
                "KAFKA_BOOTSTRAP_SERVERS": self.secure_bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
                "KAFKA_SASL_USERNAME": name,
                "KAFKA_SASL_PASSWORD": self.users[name],
                "KAFKA_SSL_CAFILE": str(self.pki.ca_file),
            }
        return env

    # -- configuration -------------------------------------------------------------------
    def _properties(self, node: KafkaNode) -> str:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.node_list)
        rf = self.replication_factor
        listeners = [
            f"PLAINTEXT://127.0.0.1:{node.plaintext_port}",
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
        ]
        advertised = [f"PLAINTEXT://127.0.0.1:{node.plaintext_port}"]
        protocol_map = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        lines = [
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={node.directory / 'data'}",
            # Production's durability settings, as many as the cluster has nodes for.
            f"default.replication.factor={rf}",
            f"min.insync.replicas={self.min_insync_replicas}",
            f"offsets.topic.replication.factor={rf}",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={self.min_insync_replicas}",
            "unclean.leader.election.enable=false",
            "auto.create.topics.enable=false",
            # Small and quick on a shared 2-core machine; nothing here changes semantics.
            "offsets.topic.num.partitions=6",
            "transaction.state.log.num.partitions=4",
            "num.network.threads=2",
            "num.io.threads=2",
            "background.threads=2",
            "num.recovery.threads.per.data.dir=1",
            "log.cleaner.threads=1",
            "group.initial.rebalance.delay.ms=0",
            # Tests and dev use 2-3 s consumer sessions (settings: KAFKA_SESSION_TIMEOUT_MS).
            "group.min.session.timeout.ms=500",
            # A killed broker is fenced (and leadership moves) within ~3 s, not 9 s.
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=3000",
            "replica.lag.time.max.ms=5000",
            "controller.quorum.election.timeout.ms=1000",
        ]
        if self.secure and node.secure_port is not None:
            assert self.pki is not None
            listeners.append(f"SASL_SSL://127.0.0.1:{node.secure_port}")
            advertised.append(f"SASL_SSL://127.0.0.1:{node.secure_port}")
            protocol_map.append("SASL_SSL:SASL_SSL")
            lines += [
                f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
                f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={self.pki.server_pem}",
                "ssl.client.auth=none",
            ]
            if self.authorizer:
                lines += [
                    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    "allow.everyone.if.no.acl.found=false",
                    "super.users=User:ANONYMOUS",
                ]
        lines += [
            "listeners=" + ",".join(listeners),
            "advertised.listeners=" + ",".join(advertised),
            "listener.security.protocol.map=" + ",".join(protocol_map),
        ]
        return "\n".join(lines) + "\n"

    def _java(self, *args: str) -> list[str]:
        libs = kafka_libs_dir()
        java = shutil.which("java") or "java"
        assert self.workdir is not None
        return [
            java,
            *self.jvm_opts.split(),
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.yaml'}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def _format(self, node: KafkaNode) -> subprocess.Popen[bytes]:
        node.directory.mkdir(parents=True, exist_ok=True)
        node.config_file.write_text(self._properties(node))
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self.cluster_id,
            "-c",
            str(node.config_file),
            "--ignore-formatted",
        )
        for name, password in self.users.items():
            command += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout_s: float = 90.0) -> "ApacheKafka":
        assert self.workdir is not None
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            (self.workdir / "log4j2.yaml").write_text(LOG4J2_CONFIG)
            if self.secure:
                self.pki = make_test_pki(self.workdir / "pki")
            formatting = [(node, self._format(node)) for node in self.node_list]
            for node, process in formatting:
                output, _ = process.communicate(timeout=120)
                if process.returncode != 0:
                    raise KafkaUnavailableError(
                        f"formatting node {node.node_id} failed: "
                        + output.decode(errors="replace")[-2000:]
                    )
            for node in self.node_list:
                self.start_node(node.node_id)
            asyncio.run(self._wait_until_ready(timeout_s))
        except BaseException:
            self.stop()
            raise
        log.info("apache kafka ready", extra={"bootstrap": self.bootstrap, "nodes": self.nodes})
        return self

    def start_node(self, node_id: int) -> None:
        node = self.node(node_id)
        if node.alive:
            return
        output = open(node.log_file, "ab")  # noqa: SIM115 - owned by the child process
        try:
            node.process = subprocess.Popen(
                self._java("kafka.Kafka", str(node.config_file)),
                stdout=output,
                stderr=output,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            output.close()

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node (a crash: no controlled shutdown)."""
        node = self.node(node_id)
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait()

    def stop_node(self, node_id: int, timeout_s: float = 30.0) -> None:
        """SIGTERM one node: a controlled shutdown that hands its leaderships over first."""
        terminate(self.node(node_id).process, timeout_s)

    def node(self, node_id: int) -> KafkaNode:
        return self.node_list[node_id - 1]

    def stop(self) -> None:
        for node in self.node_list:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for node in self.node_list:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- readiness -----------------------------------------------------------------------
    async def _wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        # A JVM takes seconds to listen: wait for the ports first, so no Kafka client logs
        # a refused connection every few hundred milliseconds meanwhile.
        while not all(_listening(n.plaintext_port) for n in self.node_list):
            self._raise_if_all_exited()
            if time.monotonic() > deadline:
                break  # wait_for_brokers says why
            await asyncio.sleep(0.1)
        await self.wait_for_brokers(self.nodes, max(1.0, deadline - time.monotonic()))
        if self.create_topics:
            from careers_runtime.topics_admin import ensure_topics

            await ensure_topics(
                self.bootstrap,
                replication_factor=self.replication_factor,
                timeout_s=max(1.0, deadline - time.monotonic()),
            )

    async def wait_for_brokers(self, count: int, timeout_s: float = 60.0) -> None:
        """Until the cluster's metadata lists ``count`` live brokers."""
        from aiokafka.admin import AIOKafkaAdminClient

        deadline = time.monotonic() + timeout_s
        last_error = "no answer"
        while time.monotonic() < deadline:
            self._raise_if_all_exited()
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.live_bootstrap(), request_timeout_ms=5_000
            )
            try:
                await admin.start()
                cluster = await admin.describe_cluster()
                if len(cluster.get("brokers", [])) >= count:
                    return
                last_error = f"{len(cluster.get('brokers', []))} of {count} brokers"
            except Exception as exc:  # not up yet: any client error means "try again"
                last_error = f"{type(exc).__name__}: {exc}"
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
            await asyncio.sleep(0.3)
        raise KafkaUnavailableError(
            f"Apache Kafka not ready within {timeout_s:.0f}s ({last_error}); logs: {self.workdir}"
        )

    def live_bootstrap(self) -> str:
        live = [n for n in self.node_list if n.alive] or self.node_list
        return ",".join(f"127.0.0.1:{n.plaintext_port}" for n in live)

    def _raise_if_all_exited(self) -> None:
        if all(n.process is not None and n.process.poll() is not None for n in self.node_list):
            tail = self.node_list[0].log_file.read_text(errors="replace")[-3000:]
            raise KafkaUnavailableError(f"every Kafka node exited:\n{tail}")

    async def partition_leaders(self, topics: list[str]) -> dict[int, int]:
        """How many of these topics' partitions each node leads."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.live_bootstrap(), request_timeout_ms=5_000
        )
        await admin.start()
        try:
            described: list[Any] = await admin.describe_topics(topics)
        finally:
            await admin.close()
        counts = {n.node_id: 0 for n in self.node_list}
        for topic in described:
            for partition in topic.get("partitions", []):
                leader = partition.get("leader")
                if leader in counts:
                    counts[leader] += 1
        return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m careers_tools.apache_kafka",
        description="Run Apache Kafka (KRaft) on loopback with the registry's topics",
    )
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--port", type=int, default=int(os.environ.get("APACHE_KAFKA_PORT", 9092)))
    parser.add_argument("--secure", action="store_true", help="add a SASL_SSL listener")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = stop_on_signals()
    try:
        kafka = ApacheKafka(
            nodes=args.nodes, secure=args.secure, first_port=args.port, workdir=args.workdir
        ).start()
    except KafkaUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 69  # EX_UNAVAILABLE
    try:
        print(f"Apache Kafka on {kafka.bootstrap} (Ctrl-C to stop)", flush=True)
        if kafka.secure:
            print(f"SASL_SSL on {kafka.secure_bootstrap}, CA {kafka.pki and kafka.pki.ca_file}")
        while not stop.is_set() and any(n.alive for n in kafka.node_list):
            time.sleep(0.2)
    finally:
        kafka.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
