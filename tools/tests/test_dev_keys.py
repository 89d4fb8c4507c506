"""Dev mode: the local key pair, the env it gives the stack, and `make token`."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from careers_tools.dev_keys import DEV_AUTHORIZED_PARTY, DEV_ISSUER, dev_environment
from ingest.auth import ClerkVerifier
from ingest.dev_jwks import jwks_for_pem


def test_key_pair_is_created_once_with_a_private_mode(tmp_path: Path) -> None:
    env = dev_environment(tmp_path)
    private = tmp_path / "clerk" / "private.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert env["CLERK_ISSUER"] == DEV_ISSUER
    assert env["CLERK_AUTHORIZED_PARTIES"] == DEV_AUTHORIZED_PARTY
    assert "PRIVATE" not in env["CLERK_JWT_KEY"] and "PUBLIC KEY" in env["CLERK_JWT_KEY"]
    before = private.read_bytes()
    assert dev_environment(tmp_path) == env  # second run: same key
    assert private.read_bytes() == before
    assert jwks_for_pem(env["CLERK_JWT_KEY"])["keys"][0]["alg"] == "RS256"


def test_a_configured_jwks_url_replaces_the_dev_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLERK_JWKS_URL", "https://clerk.example/.well-known/jwks.json")
    assert "CLERK_JWT_KEY" not in dev_environment(tmp_path)
    monkeypatch.delenv("CLERK_JWKS_URL")
    (tmp_path / ".env").write_text("CLERK_JWKS_URL=https://clerk.example/jwks\n")
    assert "CLERK_JWT_KEY" not in dev_environment(tmp_path / "dev")


async def test_make_token_prints_a_token_the_dev_settings_accept(tmp_path: Path) -> None:
    env = dev_environment(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_")}
    result = subprocess.run(
        [sys.executable, "-m", "careers_tools.dev_keys", "--dev-dir", str(tmp_path), "token"]
        + ["--sub", "user_123", "--ttl", "600"],
        capture_output=True,
        text=True,
        check=True,
        env=clean,
        cwd=tmp_path,
    )
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    verifier = ClerkVerifier(
        issuer=env["CLERK_ISSUER"],
        authorized_parties=env["CLERK_AUTHORIZED_PARTIES"].split(","),
        pem_key=env["CLERK_JWT_KEY"],
    )
    principal = await verifier.verify(token)
    assert principal.sub == "user_123"
    assert principal.authorized_party == DEV_AUTHORIZED_PARTY
