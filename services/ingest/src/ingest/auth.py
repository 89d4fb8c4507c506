"""Clerk session-token verification (RS256 JWTs) with PyJWT.

Keys come from a PEM public key (``CLERK_JWT_KEY``, networkless, as Clerk's own SDKs do
when ``jwtKey`` is set) or from the instance's JWKS (``CLERK_JWKS_URL``), cached by
``kid``. A token whose ``kid`` is not cached triggers one refetch (single-flight, at most
one per ``min_refetch_s``) so key rotation works without letting random kids hammer the
JWKS endpoint.

Every failure raises ``AuthError`` with a stable reason code; the HTTP layer turns it into
401 + ``WWW-Authenticate``. No token content is ever logged.
"""

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
MAX_TOKEN_CHARS = 8192
MAX_HEADER_CHARS = 1024  # a JOSE header is ~100 characters; checked before decoding it
MAX_SUB_CHARS = 128
MAX_JWKS_BYTES = 256 * 1024
MAX_JWKS_KEYS = 50


class AuthError(Exception):
    """A request is not authenticated; ``code`` is safe to show to the client."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class Principal:
    """The verified caller: ``sub`` is the Clerk user id."""

    sub: str
    session_id: str | None
    authorized_party: str | None
    expires_at: int


def load_public_key(pem: str) -> RSAPublicKey:
    """Parse a PEM public key; ``\\n`` escapes (one-line env values) are accepted."""
    text = pem.replace("\\n", "\n").strip()
    key = load_pem_public_key(text.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("CLERK_JWT_KEY must be an RSA public key")
    return key


class JwksCache:
    """Keys of one JWKS URL by ``kid``, refreshed when stale or when a kid is unknown."""

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = 3600.0,
        min_refetch_s: float = 30.0,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.cache_s = cache_s
        self.min_refetch_s = min_refetch_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at > self.cache_s

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refetch_s

    async def get(self, kid: str) -> RSAPublicKey:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None and not self._stale(now):
            return key
        async with self._lock:
            key = self._keys.get(kid)
            now = time.monotonic()
            if key is not None and not self._stale(now):
                return key  # another request refreshed while we waited
            if self._stale(now) or self._may_refetch(now):
                await self._refresh(now)
            key = self._keys.get(kid)
        if key is None:
            if self._fetched_at is None:
                raise AuthError("jwks_unavailable", "the signing keys could not be fetched")
            raise AuthError("unknown_kid", "the token's key id is not in the key set")
        return key

    async def current(self, kid: str) -> RSAPublicKey | None:
        """The key served for ``kid`` now, refreshing the set when it is stale (as ``get``
        would); None when the kid is no longer in it."""
        now = time.monotonic()
        if not self._stale(now):
            return self._keys.get(kid)
        try:
            return await self.get(kid)
        except AuthError:
            return None

    async def _refresh(self, now: float) -> None:
        if not self._may_refetch(now) and self._fetched_at is not None:
            return
        self._attempted_at = now
        self.fetches += 1
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError(f"JWKS of {len(response.content)} bytes")
            document = response.json()
            if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
                raise ValueError("JWKS has no 'keys' list")
        except (httpx.HTTPError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            # Keep serving the last good keys: a JWKS blip must not log everyone out.
            log.warning("JWKS fetch failed", extra={"error": type(exc).__name__})
            return
        keys: dict[str, RSAPublicKey] = {}
        skipped = 0
        for jwk in document["keys"][:MAX_JWKS_KEYS]:
            key = _rsa_key(jwk)
            if key is None:
                skipped += 1
            else:
                keys[jwk["kid"]] = key
        if skipped:
            log.warning("JWKS keys skipped", extra={"skipped": skipped, "kept": len(keys)})
        self._keys = keys
        self._fetched_at = now
        log.info("JWKS fetched", extra={"keys": len(keys)})


def _rsa_key(jwk: Any) -> RSAPublicKey | None:
    """One JWK as an RS256 signing key, or None to skip it (whatever it holds)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
        return None
    try:
        key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    except Exception:  # PyJWT raises InvalidKeyError, KeyError, ValueError...: skip the key
        return None
    return key if isinstance(key, RSAPublicKey) else None


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, parsed once (PyJWT's ``decode`` validates everything again)."""
    segment = token.split(".", 1)[0]
    if len(segment) > MAX_HEADER_CHARS or token.count(".") != 2:
        raise AuthError("malformed_token", "the bearer token is not a JWT")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise AuthError("malformed_token", "the bearer token is not a JWT") from exc
    if not isinstance(header, dict) or token.count(".") != 2:
        raise AuthError("malformed_token", "the bearer token is not a JWT")
    return header


class ClerkVerifier:
    """Verifies Clerk session tokens.

    A token that verified once is remembered (by its SHA-256) until it expires, in a bounded
    LRU: the frontend sends the same ~60 s token with every call it makes in that minute
    (submit, status polls, SSE reconnects), and the RSA check plus claim parsing is most of
    the CPU an authenticated request costs. Expiry is still checked on every use.
    """

    def __init__(
        self,
        *,
        issuer: str | None,
        authorized_parties: list[str] | None = None,
        audience: str | None = None,
        leeway_s: float = 5.0,
        pem_key: str | None = None,
        jwks: JwksCache | None = None,
        cache_size: int = 10_000,
    ) -> None:
        if not pem_key and jwks is None:
            raise ValueError("set CLERK_JWT_KEY (PEM) or CLERK_JWKS_URL to verify Clerk tokens")
        if not issuer:
            raise ValueError("set CLERK_ISSUER (the Clerk Frontend API URL)")
        self.issuer = issuer
        self.authorized_parties = frozenset(authorized_parties or ())
        self.audience = audience or None
        self.leeway_s = leeway_s
        self.static_key = load_public_key(pem_key) if pem_key else None
        self.jwks = jwks
        self.cache_size = cache_size
        # token digest -> (caller, the key that verified it): a hit is served only while
        # that key is still the JWKS's key for its kid (``JwksCache.current``).
        self._verified: OrderedDict[bytes, tuple[Principal, str | None, RSAPublicKey]] = (
            OrderedDict()
        )

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()

    async def _key_for(self, header: dict[str, Any]) -> RSAPublicKey:
        if self.static_key is not None:
            return self.static_key
        assert self.jwks is not None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise AuthError("missing_kid", "the token has no key id")
        return await self.jwks.get(kid)

    async def verify(self, token: str) -> Principal:
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthError("malformed_token", "the bearer token is empty or too long")
        if not token.isascii():  # a JWT is base64url and dots
            raise AuthError("malformed_token", "the bearer token is not a JWT")
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            principal, kid, key = cached
            if time.time() > principal.expires_at + self.leeway_s:
                del self._verified[digest]
                raise AuthError("token_expired", "the token has expired")
            # A JWKS key that left the set (revoked, rotated out) takes its tokens with it
            # at the next refresh: the cache answers only while the key is still served.
            if kid is None or self.jwks is None or await self.jwks.current(kid) is key:
                self._verified.move_to_end(digest)
                return principal
            del self._verified[digest]
        principal, kid, key = await self._verify(token)
        self._verified[digest] = (principal, kid, key)
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, str | None, RSAPublicKey]:
        header = _header(token)
        if header.get("alg") != ALGORITHM:
            # Covers `none`, HS256 signed with the public key (alg confusion) and others.
            raise AuthError("unsupported_alg", f"only {ALGORITHM} tokens are accepted")
        key = await self._key_for(header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=self.leeway_s,
                # Clerk session tokens carry `azp`, not `aud`: a token with an `aud` (a JWT
                # template's, e.g. `aud=convex`) is meant for someone else, unless an
                # audience is configured, which it must then name.
                audience=self.audience,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token_expired", "the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("token_not_yet_valid", "the token is not valid yet") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("invalid_issuer", "the token was issued by someone else") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("invalid_signature", "the token's signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("missing_claim", f"the token has no '{exc.claim}' claim") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("invalid_audience", "the token is meant for another audience") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError("unsupported_alg", f"only {ALGORITHM} tokens are accepted") from exc
        except jwt.DecodeError as exc:
            raise AuthError("malformed_token", "the bearer token could not be decoded") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid_token", "the token is not valid") from exc
        except Exception as exc:  # anything else PyJWT lets through: never a 500
            raise AuthError("malformed_token", "the bearer token could not be decoded") from exc

        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB_CHARS:
            raise AuthError("invalid_sub", "the token's subject is not a user id")
        azp = claims.get("azp")
        if azp is not None and not isinstance(azp, str):
            raise AuthError("invalid_azp", "the token's authorized party is not a string")
        if self.authorized_parties and azp not in self.authorized_parties:
            raise AuthError("invalid_azp", "the token was issued to an unauthorized party")
        exp = claims["exp"]
        if not isinstance(exp, int | float) or not 0 <= exp < 2**53:
            raise AuthError("invalid_token", "the token's expiry is not a time")
        sid = claims.get("sid")
        principal = Principal(
            sub=sub,
            session_id=sid if isinstance(sid, str) else None,
            authorized_party=azp,
            expires_at=int(exp),
        )
        kid = header.get("kid") if self.static_key is None else None
        return principal, kid if isinstance(kid, str) else None, key
