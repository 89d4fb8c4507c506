"""kill -9 the orchestrator mid-job, start it again: the job completes exactly once.

Uses the default checkpoint store (the SQLite file; test_orchestrator_broker.py runs the
orchestrator on Redis). The matcher's reply is held back
until the first process is dead, so the job can only finish in the second one, which
must pick it up from the persisted checkpoint (and the group's committed offsets).
"""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from careers_contracts import TOPICS

pytestmark = pytest.mark.broker


async def test_killed_mid_job_completes_exactly_once_after_restart(
    agents: Any, start_orchestrator: Any, tmp_path: Path
) -> None:
    group = f"orchestrator-restart-{uuid.uuid4().hex[:8]}"
    # long step timeout: the job must finish by its reply, not by a re-request
    env = {"ORCHESTRATOR_STEP_TIMEOUT_S": "60"}
    first, _ = await asyncio.to_thread(start_orchestrator, tmp_path, group, "first", **env)

    job = f"{agents.prefix}restart"
    await agents.submit(job, match="hold")
    assert await agents.wait_for(lambda: agents.events(job, TOPICS.match_requested.name)), (
        first.tail()
    )
    first.kill()  # SIGKILL: no drain, no commit, no leaving the group
    await agents.release(job)  # the matcher answers while no orchestrator runs

    second, _ = await asyncio.to_thread(start_orchestrator, tmp_path, group, "second", **env)
    assert await agents.wait_for(lambda: agents.terminal(job), timeout_s=40), second.tail()
    await agents.wait_for(lambda: False, timeout_s=1.0)  # room for any duplicate to show

    ready = agents.events(job, TOPICS.recommendations.name)
    assert len(ready) == 1 and ready[0].payload.status == "completed", second.tail()
    assert len({s.event_id for s in agents.terminal(job)}) == 1
    assert agents.terminal(job)[0].payload.status == "completed"
    # progress stayed in order; a re-emitted event (after the kill) would repeat its id
    events = agents.events(job, TOPICS.job_status.name)
    by_id = {s.event_id: (s.payload.status, s.payload.sequence) for s in events}
    assert sorted(by_id.values(), key=lambda v: v[1]) == [
        ("analyzing", 1),
        ("matching", 2),
        ("completed", 3),
    ]
    assert len({s.event_id for s in agents.events(job, TOPICS.match_requested.name)}) == 1
