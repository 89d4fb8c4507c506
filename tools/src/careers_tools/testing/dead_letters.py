"""Waiting for a job's dead letters in tests (reads like `careers-dlq list --job`)."""

import asyncio
import time

from careers_contracts import DeadLetter
from careers_runtime.dlq_cli import read_dead_letters
from careers_runtime.settings import KafkaSettings


async def wait_for_dead_letters(
    kafka: str | KafkaSettings, group: str, job_id: str, timeout_s: float = 30
) -> list[DeadLetter]:
    """The dead letters of ``group`` for ``job_id``, once at least one arrived (or [])."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            s.letter
            for s in await read_dead_letters(kafka, group)
            if s.letter.original_key == job_id
        ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)
