"""The dev Clerk JWKS that ingest serves in dev (``ENVIRONMENT=dev`` with ``CLERK_JWT_KEY``).

Clerk serves its instance's JWKS; ``make dev`` signs tokens with a local key instead
(``careers_tools.dev_keys``), and this is that key's JWKS, for clients (the Convex
stand-in, a browser) that verify tokens through a JWKS URL.
"""

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

DEV_JWKS_PATH = "/dev-clerk/.well-known/jwks.json"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: RSAPublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    members = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    # RFC 7638 thumbprint as the kid: stable for the key, different for any other key.
    thumbprint = hashlib.sha256(
        json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    ).digest()
    kid = base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": "RS256"}


def jwks_for_pem(pem: str) -> dict[str, Any]:
    key = serialization.load_pem_public_key(pem.replace("\\n", "\n").strip().encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return {"keys": [public_jwk(key)]}
