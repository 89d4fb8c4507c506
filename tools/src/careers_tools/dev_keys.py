"""Dev-mode Clerk stand-in: a local RS256 key pair, its JWKS and a token minter.

``make dev`` calls ``dev_environment(.dev)``: the key pair is created once under
``.dev/clerk/`` (private key mode 0600; ``.dev/`` is git-ignored) and the services get
``CLERK_JWT_KEY`` (the public PEM), ``CLERK_ISSUER`` and ``CLERK_AUTHORIZED_PARTIES``.
Tokens minted here therefore run the real verification path. Anything set in the
environment or ``.env`` wins; in particular setting ``CLERK_JWKS_URL`` (or your own
``CLERK_JWT_KEY``) makes the stack trust that issuer instead of the dev key.

    python -m careers_tools.dev_keys token --sub user_123 [--ttl 3600]   # print a bearer token
    python -m careers_tools.dev_keys jwks                                # print the dev JWKS
"""

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from dotenv import dotenv_values
from ingest.dev_jwks import jwks_for_pem, public_jwk

from careers_tools.paths import DEV_DIR

DEV_ISSUER = "http://127.0.0.1:8000/dev-clerk"
DEV_AUTHORIZED_PARTY = "http://localhost:3000"


def key_paths(dev_dir: Path) -> tuple[Path, Path]:
    return dev_dir / "clerk" / "private.pem", dev_dir / "clerk" / "public.pem"


def ensure_key_pair(dev_dir: Path) -> tuple[Path, Path]:
    """Create the dev key pair once; return (private, public) paths."""
    private_path, public_path = key_paths(dev_dir)
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with 0600 from the start (no window where the key is world-readable).
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as sink:
        sink.write(pem)
    os.chmod(private_path, 0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def _configured(name: str, dev_dir: Path) -> str | None:
    """A value from the environment, else from ``.env`` next to the dev dir."""
    if os.environ.get(name):
        return os.environ[name]
    env_file = dev_dir.parent / ".env"
    if env_file.exists():
        value = dotenv_values(env_file).get(name)
        if value:
            return value
    return None


def dev_environment(dev_dir: Path) -> dict[str, str]:
    """Dev defaults for the stack's Clerk settings (the caller lets real settings win)."""
    _, public_path = ensure_key_pair(dev_dir)
    env = {
        "CLERK_ISSUER": DEV_ISSUER,
        "CLERK_AUTHORIZED_PARTIES": DEV_AUTHORIZED_PARTY,
    }
    if not (_configured("CLERK_JWKS_URL", dev_dir) or _configured("CLERK_JWT_KEY", dev_dir)):
        # A configured JWKS means "trust that issuer": adding the dev PEM (which wins over a
        # JWKS) would silently keep trusting the dev key instead.
        env["CLERK_JWT_KEY"] = public_path.read_text()
    return env


def load_private_key(dev_dir: Path) -> RSAPrivateKey:
    private_path, _ = ensure_key_pair(dev_dir)
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{private_path} is not an RSA private key")
    return key


def mint_token(
    sub: str,
    *,
    dev_dir: Path = DEV_DIR,
    ttl_s: int = 3600,
    issuer: str | None = None,
    azp: str | None = None,
) -> str:
    """A Clerk-shaped session token signed with the dev key.

    Real Clerk tokens live ~60 s; dev tokens default to an hour so a human can paste them.
    """
    key = load_private_key(dev_dir)
    now = int(time.time())
    parties = (_configured("CLERK_AUTHORIZED_PARTIES", dev_dir) or DEV_AUTHORIZED_PARTY).split(",")
    claims = {
        "iss": issuer or _configured("CLERK_ISSUER", dev_dir) or DEV_ISSUER,
        "sub": sub,
        "azp": azp or parties[0].strip(),
        "sid": f"sess_dev_{uuid.uuid4().hex[:16]}",
        "iat": now,
        "nbf": now - 10,
        "exp": now + ttl_s,
    }
    kid = public_jwk(key.public_key())["kid"]
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dev Clerk keys and tokens")
    parser.add_argument("--dev-dir", type=Path, default=DEV_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a bearer token for a user id")
    token.add_argument("--sub", required=True, help="the Clerk user id, e.g. user_123")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--azp", default=None, help="authorized party (frontend origin)")
    commands.add_parser("jwks", help="print the dev JWKS")
    args = parser.parse_args(argv)
    if args.command == "token":
        print(mint_token(args.sub, dev_dir=args.dev_dir, ttl_s=args.ttl, azp=args.azp))
    else:
        _, public_path = ensure_key_pair(args.dev_dir)
        print(json.dumps(jwks_for_pem(public_path.read_text()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
