"""``make demo``: while ``make dev`` runs, submit a profile and watch it become careers.

Mints a dev token, submits ``examples/profile.json`` to the ingest API, prints the job's
progress live from its Server-Sent Events stream, then reads the ranked recommendations
the way the frontend does: from Convex (the local stand-in), with the same token.

    python -m careers_tools.demo [--profile PATH] [--sub user_demo]
"""

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from careers_tools.dev_keys import mint_token
from careers_tools.paths import DEV_DIR, REPO_ROOT

TERMINAL = {"completed", "needs_more_information", "failed"}


def _bar(progress: int, width: int = 20) -> str:
    filled = round(width * progress / 100)
    return "#" * filled + "." * (width - filled)


async def stream_progress(
    http: httpx.AsyncClient, url: str, token: str, timeout_s: float
) -> dict[str, Any] | None:
    """Print each status event; return the terminal JobView (None if the stream broke)."""
    last_id: str | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            async with http.stream("GET", url, headers=headers, timeout=None) as response:
                if response.status_code == 204:
                    return None
                response.raise_for_status()
                data: str | None = None
                async for line in response.aiter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif line == "" and data is not None:
                        view = json.loads(data)
                        data = None
                        print(
                            f"  [{_bar(view['progress'])}] {view['progress']:3d}%  "
                            f"{view['status']:<22} {view['message']}",
                            flush=True,
                        )
                        if view["status"] in TERMINAL:
                            return dict(view)
        except httpx.TransportError as exc:  # reconnect and resume after the last event
            print(f"  (stream interrupted: {type(exc).__name__}; resuming)", flush=True)
            await asyncio.sleep(1)
    return None


async def recommendations_from_convex(
    http: httpx.AsyncClient, convex_url: str, token: str, job_id: str, timeout_s: float
) -> dict[str, Any] | None:
    """Poll the Convex query the frontend uses until convex-sync has written the result."""
    body = {"path": "careerRecommendations:getByJob", "args": {"jobId": job_id}, "format": "json"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            response = await http.post(
                f"{convex_url}/api/query",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            payload = response.json()
            if payload.get("status") == "success" and payload.get("value"):
                return dict(payload["value"])
        except (httpx.HTTPError, ValueError):
            pass
        await asyncio.sleep(0.5)
    return None


def print_table(recommendations: list[dict[str, Any]]) -> None:
    header = f"{'rank':>4}  {'O*NET-SOC':<10}  {'title':<44}  {'score':>5}  {'median wage':>11}"
    print(header)
    print("-" * len(header))
    for rec in sorted(recommendations, key=lambda r: r.get("rank", 0)):
        wages = rec.get("wages") or {}
        median = wages.get("annualMedian")
        wage = f"${median:,.0f}" if isinstance(median, int | float) else "n/a"
        title = str(rec.get("title", ""))
        title = title if len(title) <= 44 else title[:43] + "…"
        print(
            f"{rec.get('rank', ''):>4}  {rec.get('occupationCode', ''):<10}  {title:<44}  "
            f"{float(rec.get('score', 0)):>5.2f}  {wage:>11}"
        )


async def run(args: argparse.Namespace) -> int:
    token = mint_token(args.sub, dev_dir=args.dev_dir, ttl_s=900)
    profile = json.loads(args.profile.read_text())
    async with httpx.AsyncClient(timeout=15) as http:
        print(f"Submitting {args.profile.name} as {args.sub} to {args.ingest_url} ...")
        try:
            response = await http.post(
                f"{args.ingest_url}/v1/agents/analyze",
                json=profile,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            )
        except httpx.TransportError:
            print(f"Cannot reach the ingest API at {args.ingest_url}: is `make dev` running?")
            return 2
        if response.status_code != 202:
            print(f"Submit failed: {response.status_code} {response.text}")
            return 1
        accepted = response.json()
        job_id = accepted["jobId"]
        print(f"Job {job_id} accepted; following {accepted['links']['events']}\n")

        try:
            final = await asyncio.wait_for(
                stream_progress(
                    http, f"{args.ingest_url}{accepted['links']['events']}", token, args.timeout
                ),
                args.timeout,
            )
        except TimeoutError:
            final = None
        if final is None:
            print("\nThe job did not finish in time.")
            return 1
        print()
        if final["status"] != "completed":
            print(f"Job ended as {final['status']}: {final.get('reason') or final['message']}")
            return 1

        document = await recommendations_from_convex(
            http, args.convex_url, token, job_id, args.timeout
        )
        if document is None:
            print(f"No document in Convex at {args.convex_url}; the job's own result:\n")
            print_table(final.get("recommendations") or [])
            return 1
        print(f"Recommendations stored in Convex (careerRecommendations, job {job_id}):\n")
        if document.get("summary"):
            print(document["summary"] + "\n")
        print_table(document.get("recommendations") or [])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, default=REPO_ROOT / "examples" / "profile.json")
    parser.add_argument("--sub", default="user_demo", help="the user id to submit as")
    parser.add_argument(
        "--ingest-url", default=os.environ.get("INGEST_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument(
        "--convex-url", default=os.environ.get("CONVEX_URL", "http://127.0.0.1:3210")
    )
    parser.add_argument("--dev-dir", type=Path, default=DEV_DIR)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per phase")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
