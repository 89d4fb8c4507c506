"""The runtime's own broker tests drive ``careers_tools.testing.echo_worker`` processes:
start one, build the ``profile.submitted`` events they consume, read what they handled."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from careers_contracts import TOPICS, ProfileSubmission, ProfileSubmitted
from careers_runtime.codec import Outgoing

from careers_tools.local_servers import free_port
from careers_tools.processes import ServiceProcess
from careers_tools.services import LOCAL_KAFKA_ENV


def echo_worker(
    bootstrap: str, group: str, out: Path, log_path: Path, **env: str
) -> tuple[ServiceProcess, int]:
    """A started ``careers_tools.testing.echo_worker`` in consumer group ``group``,
    appending what it handles to ``out``: (process, its HTTP port)."""
    port = free_port()
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ECHO_GROUP": group,
        "ECHO_OUT": str(out),
        "HTTP_PORT": str(port),
        **LOCAL_KAFKA_ENV,
    }
    process = ServiceProcess("careers_tools.testing.echo_worker", base | env, log_path)
    return process.start(), port


def profile_submitted(job_id: str, summary: str = "A test profile") -> Outgoing:
    """A ``profile.submitted`` event for ``job_id`` with a deterministic event id."""
    payload = ProfileSubmitted(
        job_id=job_id,
        user_id="user_test",
        submitted_at=datetime.now(UTC),
        profile=ProfileSubmission(summary=summary),
    )
    return Outgoing(
        TOPICS.profile_submitted, payload, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, job_id))
    )


def echo_handled(out: Path, prefix: str) -> list[dict[str, Any]]:
    """What echo workers wrote to ``out`` for jobs whose id starts with ``prefix``."""
    if not out.exists():
        return []
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["jobId"].startswith(prefix)]
