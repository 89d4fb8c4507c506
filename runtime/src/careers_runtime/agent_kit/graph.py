"""A linear SpoonOS ``StateGraph`` (step -> step -> ... -> end), compiled once per process.

An agent declares its state type and its steps (name, async node), in order; ``LinearGraph``
wraps every node in a trace span (``careers_runtime.telemetry.traced_node``), compiles the
graph on first use (thread-safe) and runs it with a throw-away checkpoint thread. State
values are dicts/objects, never top-level lists (SpoonOS appends lists).

SpoonOS's log level is set here, once, when a graph is first built: its engine logs every
edge at INFO and node errors with the exception text, which may echo input values (profile
text); the delivery layer logs a sanitised reason instead.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from careers_runtime.logging import quiet_spoon_engine
from careers_runtime.telemetry import traced_node

Node = Callable[[Any], Awaitable[dict[str, Any]]]


class LinearGraph:
    """``steps`` run in order; ``prepare`` (optional) loads data once before compiling."""

    def __init__(
        self,
        state: type,
        steps: Sequence[tuple[str, Node]],
        *,
        component: str,
        thread_prefix: str,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self.state = state
        self.steps = list(steps)
        self.component = component
        self.thread_prefix = thread_prefix
        self.prepare = prepare
        self._app: Any = None
        self._lock = threading.Lock()

    def build(self) -> Any:  # -> spoon_ai.graph.CompiledGraph
        from spoon_ai.graph import InMemoryCheckpointer, StateGraph

        g = StateGraph(
            self.state,
            checkpointer=InMemoryCheckpointer(max_checkpoints_per_thread=16, max_threads=64),
        )
        for name, fn in self.steps:
            g.add_node(name, traced_node(name, fn, component=self.component))
        g.set_entry_point(self.steps[0][0])
        for (a, _), (b, _) in zip(self.steps, self.steps[1:], strict=False):
            g.add_edge(a, b)
        g.add_edge(self.steps[-1][0], "__end__")
        return g.compile()

    def app(self) -> Any:
        """The compiled graph (built, and its data prepared, once per process)."""
        if self._app is None:
            quiet_spoon_engine()
            with self._lock:
                if self._app is None:
                    if self.prepare is not None:
                        self.prepare()
                    self._app = self.build()
        return self._app

    async def run(self, inputs: dict[str, Any], *, thread_id: str | None = None) -> Any:
        """One run on its own checkpoint thread, cleared afterwards; the final state."""
        app = self.app()
        tid = thread_id or f"{self.thread_prefix}-{uuid.uuid4()}"
        try:
            out = await app.invoke(inputs, config={"configurable": {"thread_id": tid}})
        finally:
            app.graph.checkpointer.clear_thread(tid)
        return out
