"""ComputeLoop runs coroutines on its own thread; failure reasons never echo input."""

import asyncio
import threading
import time

import pytest
from careers_runtime.compute import ComputeLoop, failure_reason, root_cause
from careers_runtime.logging import job_id_var
from pydantic import BaseModel, ValidationError


async def test_work_runs_on_the_compute_thread_with_the_callers_context() -> None:
    compute = ComputeLoop("test-compute").start()
    token = job_id_var.set("job-ctx")
    try:

        async def where() -> tuple[str, str | None]:
            return threading.current_thread().name, job_id_var.get()

        assert await compute.run(where()) == ("test-compute", "job-ctx")
    finally:
        job_id_var.reset(token)
        compute.stop()


def _compute_cpu(loop: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("careers_compute_cpu_seconds", {"loop": loop}) or 0.0


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_the_compute_threads_cpu_is_exported_apart_from_the_callers() -> None:
    """``careers_compute_cpu_seconds`` counts work on the compute loop, not the caller's."""
    compute = ComputeLoop("test-cpu").start()
    try:
        before = _compute_cpu("test-cpu")
        _burn(0.2)  # on the caller's thread: not the compute thread's
        assert _compute_cpu("test-cpu") - before < 0.05

        async def work() -> None:
            _burn(0.3)

        await compute.run(work())
        assert 0.28 <= _compute_cpu("test-cpu") - before < 0.5
    finally:
        compute.stop()
    assert _compute_cpu("test-cpu") >= 0.28, "the last reading stays after the thread ended"


async def test_blocking_work_on_the_compute_loop_leaves_the_caller_loop_free() -> None:
    compute = ComputeLoop("test-blocking").start()

    async def busy() -> str:
        time.sleep(0.5)  # a CPU-bound graph node
        return "done"

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        assert await compute.run(busy()) == "done"
    finally:
        task.cancel()
        compute.stop()
    assert ticks >= 20, "the calling loop kept running while the work blocked"


async def test_cancelling_the_caller_cancels_the_work() -> None:
    compute = ComputeLoop("test-cancel").start()
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(compute.run(slow()), timeout=0.1)
    assert await asyncio.to_thread(cancelled.wait, 2)
    compute.stop()


class _Model(BaseModel):
    summary: str


def test_failure_reason_names_fields_but_not_input_values() -> None:
    with pytest.raises(ValidationError) as info:
        _Model.model_validate({"summary": ["my secret profile text"]})
    reason = failure_reason(info.value)
    assert reason.startswith("ValidationError: summary:") and "secret" not in reason


def test_root_cause_unwraps_causes_and_original_error() -> None:
    inner = ValueError("bad dates")
    wrapper = RuntimeError("node failed")
    wrapper.original_error = inner  # type: ignore[attr-defined]
    outer = KeyError("graph failed")
    outer.__cause__ = wrapper
    assert root_cause(outer) is inner
    assert root_cause(inner) is inner
