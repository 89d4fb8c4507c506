"""The local Convex stand-in (deploy/convex/standin) as a real process, for tests.

    with ConvexStandin() as convex:
        convex.url                     # http://127.0.0.1:<free port>, for CONVEX_SITE_URL/CONVEX_URL
        convex.secret                  # CONVEX_SYNC_SECRET it was started with
        convex.token("user_a")         # an RS256 session token it accepts (dev Clerk key)
        convex.documents("agentOutputs")
        convex.query("agentOutputs:listByJob", {"jobId": j}, token=convex.token("user_a"))
        convex.inject_faults(503, count=3, retry_after=1, paths=["/agent-outputs"])

Node is started directly (``node --import tsx standin/main.ts``), not through ``npm run``,
which does not forward SIGTERM. The key pair is generated per instance, so no key material
is committed. Documents live in memory: ``reset()`` empties the database.
"""

import os
import secrets
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from careers_tools.local_servers import LocalServer, free_port, terminate
from careers_tools.paths import REPO_ROOT

CONVEX_DIR = REPO_ROOT / "deploy" / "convex"
ISSUER = "https://clerk.standin.test"


class ConvexStandin(LocalServer):
    def __init__(
        self,
        *,
        port: int | None = None,
        secret: str | None = None,
        log_path: Path | None = None,
        convex_dir: Path = CONVEX_DIR,
        startup_timeout_s: float = 60,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secret or secrets.token_hex(24)
        self.log_path = log_path
        self.convex_dir = convex_dir
        self.startup_timeout_s = startup_timeout_s
        self.issuer = ISSUER
        self._private_key: Any = None
        self.public_pem = self._generate_key()
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def _generate_key(self) -> str:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return (
            self._private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "ConvexStandin":
        if not (self.convex_dir / "node_modules").exists():
            raise RuntimeError(f"{self.convex_dir}/node_modules missing: run `make install`")
        env = {
            **os.environ,
            "CONVEX_SYNC_SECRET": self.secret,
            "CONVEX_STANDIN_ADMIN": "1",  # tests read documents and inject faults
            "CLERK_JWT_KEY": self.public_pem,
            "CLERK_ISSUER": self.issuer,
        }
        env.pop("CLERK_JWKS_URL", None)
        env.pop("CLERK_JWKS_FILE", None)
        env.pop("CLERK_AUDIENCE", None)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output: Any = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        else:
            output = subprocess.DEVNULL
        self.process = subprocess.Popen(
            ["node", "--import", "tsx", "standin/main.ts", "--port", str(self.port)],
            cwd=self.convex_dir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        last: object = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"convex stand-in exited ({self.process.returncode}):\n{self.tail()}"
                )
            try:
                if self.http.get("/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"convex stand-in not ready in {self.startup_timeout_s}s: {last}")

    def tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 10) -> int | None:
        self.http.close()
        return terminate(self.process, timeout_s)

    # ------------------------------------------------------------------ helpers

    def token(self, sub: str, *, ttl_s: int = 300, **claims: Any) -> str:
        """An RS256 session token for ``sub``, signed with this instance's dev key."""
        import jwt

        now = int(time.time())
        payload = {
            "sub": sub,
            "iss": self.issuer,
            "iat": now,
            "nbf": now - 5,
            "exp": now + ttl_s,
            "sid": f"sess_{uuid.uuid4().hex[:12]}",
            **claims,
        }
        return jwt.encode(payload, self._private_key, algorithm="RS256", headers={"kid": "dev"})

    def query(self, path: str, args: dict[str, Any], token: str | None = None) -> Any:
        """``POST /api/query`` like ConvexHttpClient; returns ``value`` or raises."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(
            "/api/query", json={"path": path, "args": args, "format": "json"}, headers=headers
        )
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise RuntimeError(f"query {path} failed: {response.status_code} {body}")
        return body["value"]

    def documents(self, table: str) -> list[dict[str, Any]]:
        response = self.http.get("/_standin/documents", params={"table": table})
        response.raise_for_status()
        documents: list[dict[str, Any]] = response.json()["documents"]
        return documents

    def inject_faults(
        self,
        status: int,
        *,
        count: int,
        retry_after: float | None = None,
        paths: list[str] | None = None,
        delay_ms: int = 0,
    ) -> None:
        """The next ``count`` matching HTTP-action requests get ``status`` (0: reset)."""
        rule: dict[str, Any] = {"status": status, "count": count, "delayMs": delay_ms}
        if retry_after is not None:
            rule["retryAfter"] = retry_after
        if paths is not None:
            rule["paths"] = paths
        self.http.post("/_standin/faults", json=rule).raise_for_status()

    def pending_faults(self) -> Any:
        return self.http.get("/_standin/faults").json()

    def clear_faults(self) -> None:
        self.http.post("/_standin/faults/clear").raise_for_status()

    def reset(self) -> None:
        self.http.post("/_standin/reset").raise_for_status()
