"""`make test-browser`: the example page in Debian's Chromium against a real stack.

Starts the whole system (embedded broker, Convex stand-in, every service, each its own
process) with ingest allowing only the page's origin, the page's Vite dev server (whose
dev-Clerk endpoint signs tokens with the stack's throw-away key), then runs
tests/browser.mjs (playwright-core). The screenshot is kept at
examples/web/test-results/browser.png; logs of every process under .dev/browser-test/.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from careers_tools.local_servers import free_port
from careers_tools.testing.stack import LocalStack
from cryptography.hazmat.primitives import serialization

WEB = Path(__file__).resolve().parents[1]
ROOT = WEB.parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"vite exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {timeout_s} s")


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(
            f"{CHROMIUM} is missing: run `make install` (as root) or set CHROMIUM", file=sys.stderr
        )
        return 1
    workdir = ROOT / ".dev" / "browser-test"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    port = free_port()
    app_url = f"http://localhost:{port}/"
    other_url = f"http://127.0.0.1:{port}/"  # same page, another origin
    origin = app_url.rstrip("/")
    env = {"CORS_ORIGINS": origin, "CLERK_AUTHORIZED_PARTIES": origin}
    with LocalStack(workdir, env=env) as stack:
        key_file = workdir / "clerk-private.pem"
        key_file.write_bytes(
            stack.convex._private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        vite_env = {
            **os.environ,
            "PORT": str(port),
            "VITE_INGEST_URL": stack.url("ingest"),
            "VITE_CONVEX_URL": stack.convex.url,
            "VITE_DEV_USER_ID": "user_browser_test",
            "DEV_CLERK_PRIVATE_KEY_FILE": str(key_file),
            "DEV_CLERK_ISSUER": stack.convex.issuer,
        }
        with open(workdir / "vite.log", "wb") as vite_log:
            vite = subprocess.Popen(
                ["node", "node_modules/vite/bin/vite.js", "--host", "localhost"],
                cwd=WEB,
                env=vite_env,
                stdout=vite_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(app_url, vite)
            result = subprocess.run(
                ["node", "tests/browser.mjs"],
                cwd=WEB,
                env={
                    **os.environ,
                    "APP_URL": app_url,
                    "OTHER_URL": other_url,
                    "INGEST_URL": stack.url("ingest"),
                    "SCREENSHOT": str(WEB / "test-results" / "browser.png"),
                    "CHROMIUM": CHROMIUM,
                },
                timeout=300,
                check=False,
            )
            if result.returncode != 0:
                print(stack.logs(), file=sys.stderr)
                print(f"--- vite\n{(workdir / 'vite.log').read_text()[-3000:]}", file=sys.stderr)
            return result.returncode
        finally:
            vite.terminate()
            try:
                vite.wait(10)
            except subprocess.TimeoutExpired:
                vite.kill()


if __name__ == "__main__":
    sys.exit(main())
