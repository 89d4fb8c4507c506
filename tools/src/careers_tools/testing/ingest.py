"""Test helpers for the ingest suite and the ingest benchmark (tokens, real ingest
processes, topic reads).

A module of a package, not of a tests folder, so test modules can import it under pytest's
importlib mode; fixtures wrapping it are in ``services/ingest/tests``.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from aiokafka import AIOKafkaConsumer
from careers_contracts import Topic
from careers_runtime.codec import EventValidationError, decode
from careers_runtime.delivery import SafeFetch
from careers_runtime.kafka_client import kafka_client_kwargs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from ingest.api.deps import Services
from ingest.dev_jwks import public_jwk

from careers_tools.dev_keys import ensure_key_pair, load_private_key
from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess

ISSUER = "https://clerk.test.example"
AZP = "http://localhost:3000"

PROFILE: dict[str, Any] = {
    "headline": "Backend developer moving into data",
    "summary": "Five years building Python APIs; I enjoy statistics.",
    "skills": ["Python", "SQL"],
    "experience": [
        {
            "title": "Software Engineer",
            "organization": "Acme",
            "startDate": "2020-01",
            "endDate": None,
            "description": "Built REST APIs.",
        }
    ],
    "education": [],
    "interests": ["machine learning"],
    "goals": "Become a data scientist",
}


@dataclass(frozen=True)
class Keys:
    dev_dir: Path
    private: RSAPrivateKey
    public_pem: str
    kid: str

    @classmethod
    def create(cls, dev_dir: Path) -> "Keys":
        _, public_path = ensure_key_pair(dev_dir)
        private = load_private_key(dev_dir)
        kid = public_jwk(private.public_key())["kid"]
        return cls(dev_dir, private, public_path.read_text(), kid)

    def token(self, sub: str, *, kid: str | None = None, **overrides: Any) -> str:
        """A Clerk-shaped RS256 token; ``claim=None`` drops a claim."""
        return self.sign(claims_for(sub, **overrides), kid=kid)

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


@dataclass
class InProcess:
    """ingest's ASGI app in the test's process (``httpx.ASGITransport``): real routes,
    middlewares, token checks and a real Redis; Kafka is FastStream's in-memory
    ``TestKafkaBroker``, and ``published`` holds every ``profile.submitted`` it was handed
    (the ``inprocess`` fixture of ``services/ingest/tests``)."""

    client: "httpx.AsyncClient"
    services: "Services"
    published: list[Any]


def claims_for(sub: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": sub,
        "azp": AZP,
        "sid": "sess_test",
        "iat": now,
        "nbf": now - 10,
        "exp": now + 60,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def new_user() -> str:
    return f"user_{uuid.uuid4().hex[:12]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ingest_env(
    keys: Keys, bootstrap: str, port: int, redis_url: str = "", **extra: str
) -> dict[str, str]:
    """An ingest process's environment; each call gets a consumer group of its own for
    the job-status projector (``extra`` may name one, e.g. to share it between replicas)."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HTTP_PORT": str(port),
        "ENVIRONMENT": "test",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING",
        "CLERK_JWT_KEY": keys.public_pem,
        "CLERK_JWKS_URL": "",
        "CLERK_ISSUER": ISSUER,
        "CLERK_AUTHORIZED_PARTIES": f"{AZP},https://app.example",
        "CORS_ORIGINS": AZP,
        "RATE_LIMIT": "1000/minute",
        # Every test client is 127.0.0.1: the per-address budget has its own test.
        "AUTH_FAILURE_RATE_LIMIT": "10000/minute",
        "REDIS_URL": redis_url,
        "INGEST_JOB_STATUS_GROUP": f"ingest-job-status-{uuid.uuid4().hex[:8]}",
        "KAFKA_LINGER_MS": "1",
        # The job-status projector's group: joins and rebalances in about a second.
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        **extra,
    }


@dataclass
class Ingest:
    process: ServiceProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_ingest(
    keys: Keys,
    bootstrap: str,
    log_dir: Path,
    ready_path: str = "/readyz",
    replicas: int = 1,
    *,
    redis_url: str,
    **extra: str,
) -> list[Ingest]:
    """``replicas`` x ``python -m ingest`` on free loopback ports, started in parallel and
    waited for until ``ready_path`` is 200 (``/readyz``: broker and Redis up). The
    replicas of one call share Redis and one job-status consumer group, as a deployment's."""
    extra.setdefault("INGEST_JOB_STATUS_GROUP", f"ingest-job-status-{uuid.uuid4().hex[:8]}")
    instances = []
    for _ in range(replicas):
        port = free_port()
        process = ServiceProcess(
            "ingest",
            ingest_env(keys, bootstrap, port, **{"redis_url": redis_url, **extra}),
            log_dir / f"ingest-{port}.log",
        ).start()
        instances.append(Ingest(process, port))
    try:
        for instance in instances:
            instance.process.wait_http(f"{instance.url}{ready_path}", timeout_s=45)
    except BaseException:
        for instance in instances:
            instance.process.stop()
        raise
    return instances


async def read_topic(
    bootstrap: str,
    topic: Topic,
    job_ids: set[str] | None = None,
    *,
    user_id: str | None = None,
    settle_s: float = 1.0,
) -> list[Any]:
    """(envelope, payload) of ``topic``'s events for ``job_ids`` and/or ``user_id``, read
    from the beginning until no record arrived for ``settle_s``."""
    consumer = AIOKafkaConsumer(
        topic.name,
        **kafka_client_kwargs(bootstrap),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    fetch = SafeFetch(consumer, group=False)  # other tests' unparseable bytes: skipped
    found: list[Any] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle_s:
            batches = await fetch.getmany(timeout_ms=200, max_records=None)
            records = [r for rs in batches.records.values() for r in rs]
            if records:
                quiet_since = time.monotonic()
            for record in records:
                try:
                    envelope, payload = decode(record.value, topic)
                except EventValidationError:
                    continue  # other tests' deliberately invalid records share the topic
                if job_ids is not None and payload.job_id not in job_ids:
                    continue
                if user_id is not None and payload.user_id != user_id:
                    continue
                found.append((envelope, payload))
    finally:
        await consumer.stop()
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(keys: Keys) -> dict[str, tuple[str, str]]:
    """name -> (token, expected reason code): every way a token must be refused."""
    sub = "user_attack"
    now = int(time.time())
    good = keys.token(sub)
    header, payload, signature = good.split(".")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = keys.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tampered_payload = _b64(json.dumps(claims_for("user_admin")).encode())
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.kid}).encode())
    hs_signing_input = f"{hs_header}.{payload}".encode()
    hs_signature = _b64(hmac.new(public_pem, hs_signing_input, hashlib.sha256).digest())
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "malformed": ("not-a-jwt", "malformed_token"),
        "garbage segments": ("a.b.c", "malformed_token"),
        "alg none": (f"{none_header}.{payload}.", "unsupported_alg"),
        "HS256 with the public key": (
            f"{hs_header}.{payload}.{hs_signature}",
            "unsupported_alg",
        ),
        "signed by another key": (
            jwt.encode(claims_for(sub), other_key, algorithm="RS256", headers={"kid": keys.kid}),
            "invalid_signature",
        ),
        "tampered payload": (f"{header}.{tampered_payload}.{signature}", "invalid_signature"),
        "expired": (keys.token(sub, iat=now - 300, nbf=now - 300, exp=now - 60), "token_expired"),
        "not yet valid": (keys.token(sub, nbf=now + 120), "token_not_yet_valid"),
        "wrong iss": (keys.token(sub, iss="https://evil.example"), "invalid_issuer"),
        "wrong azp": (keys.token(sub, azp="https://evil.example"), "invalid_azp"),
        "no azp": (keys.token(sub, azp=None), "invalid_azp"),
        "no exp": (keys.token(sub, exp=None), "missing_claim"),
        "no sub": (
            keys.sign({k: v for k, v in claims_for(sub).items() if k != "sub"}),
            "missing_claim",
        ),
        "empty sub": (keys.token(""), "invalid_sub"),
        # Hostile shapes that answered 500 before the hardening.
        "deeply nested header": (f"{_b64(b'[' * 6000)}.{payload}.{signature}", "malformed_token"),
        "nested header under the size cap": (
            f"{_b64(b'[' * 700)}.{payload}.{signature}",
            "malformed_token",
        ),
        "header with a huge integer": (
            f"{_b64(b'{"alg": ' + b'9' * 5000 + b'}')}.{payload}.{signature}",
            "malformed_token",
        ),
        "header is not an object": (f"{_b64(b'[1]')}.{payload}.{signature}", "malformed_token"),
        "azp is a list": (keys.token(sub, azp=[AZP]), "invalid_azp"),
        "azp is an object": (keys.token(sub, azp={"origin": AZP}), "invalid_azp"),
        "aud for another service": (keys.token(sub, aud="convex"), "invalid_audience"),
        "signed, deeply nested payload": (
            _sign_raw(keys, b'{"sub": "u", "x": ' + b"[" * 6000 + b"]" * 6000 + b"}"),
            "malformed_token",
        ),
        "signed, infinite exp": (
            _sign_raw(
                keys,
                json.dumps(claims_for(sub, exp=None)).encode()[:-1] + b', "exp": Infinity}',
            ),
            "malformed_token",
        ),
        "signed, payload not an object": (_sign_raw(keys, b"[1, 2]"), "malformed_token"),
    }


def _sign_raw(keys: Keys, payload: bytes) -> str:
    """An RS256 token over arbitrary payload bytes (PyJWT would refuse to build most)."""
    return jwt.api_jws.encode(payload, keys.private, algorithm="RS256", headers={"kid": keys.kid})
