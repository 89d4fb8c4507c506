"""Running CPU-heavy async work (the agents' graphs) off the service's event loop.

The agents' graph nodes are ``async`` but compute synchronously: a long profile keeps a node
busy for up to about a second. Run on the service's own loop, that would stall Kafka
heartbeats, fetches and ``/readyz`` for as long. ``ComputeLoop`` owns a second event loop
in a daemon thread; handlers ``await compute.run(coro)`` and the service loop stays free
(Python switches threads every few milliseconds even under pure-Python work).

Everything the graphs touch (compiled graph, catalog caches, LLM provider clients, which
bind to the first loop that uses them) lives on that one loop, so "one loop per process"
still holds for them. Cancelling the awaiting task (a handler timeout) cancels the
coroutine on the compute loop.

``failure_reason`` gives an error text for logs and dead letters that never contains the
input (pydantic errors otherwise echo ``input_value``, i.e. profile text).
"""

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

from pydantic import ValidationError

from careers_runtime import metrics


class ComputeLoop:
    """A dedicated event loop in a daemon thread; ``await run(coro)`` from any other loop."""

    def __init__(self, name: str = "compute") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> "ComputeLoop":
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
                self._thread.start()
                self._export_cpu(self._thread)
        self._ready.wait()
        return self

    def _export_cpu(self, thread: threading.Thread) -> None:
        """``careers_compute_cpu_seconds{loop=name}``: this thread's CPU clock, read when
        scraped. The agent's own compute apart from everything else in the process
        (Kafka, HTTP, metrics): what ``make bench`` splits plumbing from compute with."""
        assert thread.ident is not None
        clock = time.pthread_getcpuclockid(thread.ident)
        last = 0.0

        def cpu_seconds() -> float:
            nonlocal last
            with contextlib.suppress(OSError):  # the thread has ended: its last reading
                last = time.clock_gettime(clock)
            return last

        metrics.COMPUTE_CPU_SECONDS.labels(self.name).set_function(cpu_seconds)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def submit[T](self, coro: Coroutine[Any, Any, T]) -> "Future[T]":
        self.start()
        assert self._loop is not None
        # Carry the caller's context variables (the current trace span, the job id for
        # logs) into the compute loop: a task there otherwise starts with that thread's.
        return asyncio.run_coroutine_threadsafe(
            _in_context(coro, contextvars.copy_context()), self._loop
        )

    async def run[T](self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the compute loop and await its result from the calling loop."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop (pending work is abandoned); the thread is a daemon anyway."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)


async def _in_context[T](coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    for var, value in context.items():
        var.set(value)
    return await coro


def root_cause(exc: BaseException) -> BaseException:
    """The innermost error behind wrappers (``__cause__`` chains, ``original_error``)."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "original_error", None) or current.__cause__
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current


def failure_reason(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` for logs and dead letters, without echoing input values."""
    if isinstance(exc, ValidationError):
        details = exc.errors(include_url=False, include_input=False, include_context=False)
        parts = [f"{'.'.join(str(p) for p in d['loc']) or '<root>'}: {d['msg']}" for d in details]
        text = "; ".join(parts[:3]) + (f" (+{len(parts) - 3} more)" if len(parts) > 3 else "")
        return f"ValidationError: {text}"[:limit]
    return f"{type(exc).__name__}: {exc}"[:limit]
