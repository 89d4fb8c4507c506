"""Clerk token verification: the attack matrix, and JWKS caching over real loopback HTTP."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from careers_tools.testing.ingest import AZP, ISSUER, Keys, claims_for, forged_tokens
from cryptography.hazmat.primitives.asymmetric import rsa
from ingest.auth import AuthError, ClerkVerifier, JwksCache
from ingest.dev_jwks import public_jwk


def pem_verifier(keys: Keys, **kwargs: Any) -> ClerkVerifier:
    return ClerkVerifier(
        issuer=ISSUER,
        authorized_parties=[AZP],
        leeway_s=5,
        pem_key=keys.public_pem,
        **kwargs,
    )


async def test_valid_token_yields_the_verified_sub(keys: Keys) -> None:
    principal = await pem_verifier(keys).verify(keys.token("user_123"))
    assert principal.sub == "user_123"
    assert principal.authorized_party == AZP


async def test_small_clock_skew_is_tolerated(keys: Keys) -> None:
    now = int(time.time())
    token = keys.token("user_skew", nbf=now + 3, exp=now - 2)
    assert (await pem_verifier(keys).verify(token)).sub == "user_skew"


async def test_pem_with_escaped_newlines(keys: Keys) -> None:
    one_line = keys.public_pem.replace("\n", "\\n")
    verifier = ClerkVerifier(issuer=ISSUER, pem_key=one_line)
    assert (await verifier.verify(keys.token("user_1"))).sub == "user_1"


async def test_attack_matrix_is_refused_with_a_reason(keys: Keys) -> None:
    verifier = pem_verifier(keys)
    for name, (token, code) in forged_tokens(keys).items():
        with pytest.raises(AuthError) as caught:
            await verifier.verify(token)
        assert caught.value.code == code, name


async def test_non_ascii_tokens_are_malformed(keys: Keys) -> None:
    for token in ("\u00e9\u00e9.\u00e9.\u00e9", "a.\udcff.b", "\x00.\x00.\x00"):
        with pytest.raises(AuthError) as caught:
            await pem_verifier(keys).verify(token)
        assert caught.value.code == "malformed_token"


async def test_azp_is_not_checked_when_no_parties_are_configured(keys: Keys) -> None:
    verifier = ClerkVerifier(issuer=ISSUER, pem_key=keys.public_pem)
    assert (await verifier.verify(keys.token("u", azp="https://any.example"))).sub == "u"


async def test_aud_is_accepted_only_when_it_is_the_configured_audience(keys: Keys) -> None:
    verifier = pem_verifier(keys, audience="careers-api")
    assert (await verifier.verify(keys.token("u", aud="careers-api"))).sub == "u"
    for token in (keys.token("u", aud="convex"), keys.token("u")):
        with pytest.raises(AuthError) as caught:
            await verifier.verify(token)
        assert caught.value.code in ("invalid_audience", "missing_claim")


def test_production_requires_azp_and_https(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.settings import IngestSettings

    base = {
        "environment": "production",
        "clerk_issuer": "https://clerk.example",
        # The rest of the production check list (test_production_checks) satisfied.
        "internal_http_port": 9090,
        "redis_url": "redis://redis:6379/0",
        "kafka_security_protocol": "SSL",
        "_env_file": None,
    }
    with pytest.raises(ValueError, match="CLERK_AUTHORIZED_PARTIES must list"):
        IngestSettings(**base, clerk_authorized_parties="")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CLERK_JWKS_URL must be an https"):
        IngestSettings(
            **base,  # type: ignore[arg-type]
            clerk_authorized_parties="https://app.example",
            clerk_jwks_url="http://clerk.example/.well-known/jwks.json",
        )
    ok = IngestSettings(**base, clerk_authorized_parties="https://app.example")  # type: ignore[arg-type]
    assert ok.authorized_parties == ["https://app.example"]
    IngestSettings(environment="dev", clerk_authorized_parties="")  # dev stays lenient


def test_misconfiguration_fails_fast(keys: Keys) -> None:
    with pytest.raises(ValueError, match="CLERK_JWT_KEY"):
        ClerkVerifier(issuer=ISSUER)
    with pytest.raises(ValueError, match="CLERK_ISSUER"):
        ClerkVerifier(issuer=None, pem_key=keys.public_pem)


# ------------------------------------------------------------------ JWKS over HTTP


class JwksServer:
    """A JWKS endpoint on loopback whose key set the test can rotate or break."""

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.raw: bytes | None = None  # served instead of {"keys": keys} when set
        self.requests = 0
        self.broken = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.broken:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = server.raw or json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "JwksServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


def jwks_verifier(url: str, min_refetch_s: float = 30.0) -> ClerkVerifier:
    return ClerkVerifier(
        issuer=ISSUER,
        authorized_parties=[AZP],
        jwks=JwksCache(url, min_refetch_s=min_refetch_s, timeout_s=2),
    )


async def test_jwks_keys_are_cached_by_kid(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.keys = [public_jwk(keys.private.public_key())]
    verifier = jwks_verifier(jwks_server.url)
    try:
        for i in range(5):
            assert (await verifier.verify(keys.token(f"user_{i}"))).sub == f"user_{i}"
        assert jwks_server.requests == 1
    finally:
        await verifier.close()


async def test_unknown_kid_refetches_once_then_is_rate_limited(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.keys = [public_jwk(keys.private.public_key())]
    verifier = jwks_verifier(jwks_server.url, min_refetch_s=30)
    try:
        await verifier.verify(keys.token("user_1"))
        assert jwks_server.requests == 1
        for _ in range(10):  # random kids must not hammer the JWKS endpoint
            with pytest.raises(AuthError) as caught:
                await verifier.verify(keys.token("user_1", kid="kid-that-does-not-exist"))
            assert caught.value.code == "unknown_kid"
        assert jwks_server.requests == 1  # the first fetch was < 30 s ago: no refetch
    finally:
        await verifier.close()


async def test_a_token_whose_key_left_the_jwks_is_refused_after_the_next_refresh(
    keys: Keys, jwks_server: JwksServer
) -> None:
    """Issue 25: the verification cache kept accepting a token after its key was removed
    from the JWKS (revoked), until the token expired."""
    jwks_server.keys = [public_jwk(keys.private.public_key())]
    verifier = ClerkVerifier(
        issuer=ISSUER,
        authorized_parties=[AZP],
        jwks=JwksCache(jwks_server.url, cache_s=0.2, min_refetch_s=0, timeout_s=2),
    )
    try:
        token = keys.token("user_1")
        assert (await verifier.verify(token)).sub == "user_1"
        assert (await verifier.verify(token)).sub == "user_1"  # from the cache
        jwks_server.keys = []  # the key is revoked
        await asyncio.sleep(0.3)  # the set is stale: the next use refreshes it
        with pytest.raises(AuthError) as caught:
            await verifier.verify(token)
        assert caught.value.code == "unknown_kid"
        assert jwks_server.requests >= 2  # the stale set was fetched again
    finally:
        await verifier.close()


async def test_key_rotation_is_picked_up_by_refetching_on_unknown_kid(
    keys: Keys, jwks_server: JwksServer
) -> None:
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated_jwk = public_jwk(rotated.public_key())
    jwks_server.keys = [public_jwk(keys.private.public_key())]
    verifier = jwks_verifier(jwks_server.url, min_refetch_s=0)
    try:
        await verifier.verify(keys.token("user_1"))
        jwks_server.keys.append(rotated_jwk)  # Clerk publishes the new key
        token = jwt.encode(
            claims_for("user_rotated"),
            rotated,
            algorithm="RS256",
            headers={"kid": rotated_jwk["kid"]},
        )
        assert (await verifier.verify(token)).sub == "user_rotated"
        assert jwks_server.requests >= 2  # the stale set was fetched again
    finally:
        await verifier.close()


async def test_jwks_outage_is_a_401_and_cached_keys_keep_working(
    keys: Keys, jwks_server: JwksServer
) -> None:
    jwks_server.broken = True
    cold = jwks_verifier(jwks_server.url, min_refetch_s=0)
    try:
        with pytest.raises(AuthError) as caught:
            await cold.verify(keys.token("user_1"))
        assert caught.value.code == "jwks_unavailable"
    finally:
        await cold.close()

    jwks_server.broken = False
    jwks_server.keys = [public_jwk(keys.private.public_key())]
    warm = ClerkVerifier(
        issuer=ISSUER,
        jwks=JwksCache(jwks_server.url, cache_s=0.01, min_refetch_s=0, timeout_s=2),
    )
    try:
        await warm.verify(keys.token("user_1"))
        jwks_server.broken = True
        time.sleep(0.02)  # cache is stale; the refetch fails; the last good keys serve
        assert (await warm.verify(keys.token("user_2"))).sub == "user_2"
    finally:
        await warm.close()


async def test_jwks_token_without_kid_is_refused(keys: Keys, jwks_server: JwksServer) -> None:
    jwks_server.keys = [public_jwk(keys.private.public_key())]
    verifier = jwks_verifier(jwks_server.url)
    token = jwt.encode(claims_for("user_1"), keys.private, algorithm="RS256")
    try:
        with pytest.raises(AuthError) as caught:
            await verifier.verify(token)
        assert caught.value.code == "missing_kid"
    finally:
        await verifier.close()


async def test_a_remembered_token_still_expires(keys: Keys) -> None:
    verifier = ClerkVerifier(issuer=ISSUER, pem_key=keys.public_pem, leeway_s=0)
    token = keys.token("user_cached", exp=int(time.time()) + 1)
    assert (await verifier.verify(token)).sub == "user_cached"
    assert (await verifier.verify(token)).sub == "user_cached"  # from the cache
    await asyncio.sleep(1.6)
    with pytest.raises(AuthError) as caught:
        await verifier.verify(token)
    assert caught.value.code == "token_expired"


async def test_the_verified_token_cache_is_bounded(keys: Keys) -> None:
    verifier = ClerkVerifier(issuer=ISSUER, pem_key=keys.public_pem, cache_size=3)
    for i in range(10):
        await verifier.verify(keys.token(f"user_{i}"))
    assert len(verifier._verified) == 3


async def test_jwks_refresh_keeps_good_keys_and_skips_bad_ones(
    keys: Keys, jwks_server: JwksServer
) -> None:
    good = public_jwk(keys.private.public_key())
    no_n = {k: v for k, v in good.items() if k != "n"} | {"kid": "no-n"}
    jwks_server.keys = [
        no_n,  # RSA without n: PyJWT cannot load it (failed the whole refresh before)
        {"kty": "RSA", "kid": "bad-e", "n": good["n"], "e": "!!"},
        {"kty": "RSA", "kid": ["not", "a", "string"], "n": good["n"], "e": good["e"]},
        "not an object",
        {"kty": "EC", "kid": "ec", "crv": "P-256"},
        good,
    ]
    verifier = jwks_verifier(jwks_server.url)
    try:
        assert (await verifier.verify(keys.token("user_1"))).sub == "user_1"
    finally:
        await verifier.close()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # RecursionError before
        b'{"keys": {"a": 1}}',
        b"[1, 2]",
        b'{"keys": [' + b"9" * 5000 + b"]}",
    ],
)
async def test_a_hostile_jwks_document_is_a_401_not_a_500(
    keys: Keys, jwks_server: JwksServer, raw: bytes
) -> None:
    jwks_server.raw = raw
    verifier = jwks_verifier(jwks_server.url)
    try:
        with pytest.raises(AuthError) as caught:
            await verifier.verify(keys.token("user_1"))
        assert caught.value.code == "jwks_unavailable"
    finally:
        await verifier.close()
