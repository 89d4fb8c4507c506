"""The workflow as a SpoonOS ``StateGraph``, compiled once per process.

    request_analysis -> await_analysis -(accept)-> check_analysis -(sufficient)-> request_match
          ^                 |  (rerequest)              | (insufficient)               |
          +-----------------+  (fail) -> fail           v                              v
                                                needs_information            await_match ...
    await_match -(accept)-> assemble -(completed)-> complete -> finalize -> END

Waiting is an ``interrupt``: the await node raises it when nothing relevant has arrived,
the engine checkpoints the state with ``next = await_*`` and returns. The reply (or a
timeout tick) resumes the job with ``Command(resume={...})``: the engine reloads the
checkpoint, merges the resume values in and re-runs the await node, which now decides
(``domain.workflow.decide_wait``).

Checkpoints: the engine writes a snapshot before every node and at the interrupt. Its
checkpointer here (``StepCheckpointer``) keeps them in memory only for the duration of one
step; the caller (``orchestrator.service``) then persists the step's final snapshot, the
job's dedup ledger and its deadline in one atomic write (SQLite or Redis). That way the
durable checkpoint is written exactly once per step, never half, and memory holds no
finished or idle job.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from careers_contracts import TERMINAL_STATES
from careers_runtime.logging import quiet_spoon_engine

from orchestrator.domain import workflow as wf
from orchestrator.domain.workflow import JobValues, Policy

NodeFn = Callable[[JobValues], Coroutine[Any, Any, dict[str, Any]]]


class StepCheckpointer:
    """SpoonOS duck-typed checkpointer holding the latest snapshot of in-flight steps."""

    def __init__(self) -> None:
        self._latest: dict[str, Any] = {}

    def save_checkpoint(self, thread_id: str, snapshot: Any) -> None:
        self._latest[thread_id] = snapshot

    def get_checkpoint(self, thread_id: str, checkpoint_id: str | None = None) -> Any:
        return self._latest.get(thread_id)

    def list_checkpoints(self, thread_id: str) -> list[Any]:
        snapshot = self._latest.get(thread_id)
        return [snapshot] if snapshot is not None else []

    def clear_thread(self, thread_id: str) -> None:
        self._latest.pop(thread_id, None)

    @property
    def open_threads(self) -> int:
        """Steps in flight (0 between steps: nothing per job stays in memory)."""
        return len(self._latest)


@dataclass
class StepResult:
    """What one step of a job did."""

    values: dict[str, Any]  # durable state after the step (transient keys removed)
    next_node: str | None  # the await node the job is parked at; None when finished
    outbox: dict[str, Any] = field(default_factory=dict)  # event id -> {topic, payload}
    ignored: str = ""  # why the signal changed nothing, when it did not

    @property
    def finished(self) -> bool:
        return self.next_node is None


class WorkflowError(RuntimeError):
    """The graph ended somewhere it must not (a bug): retried, then dead-lettered."""


def _durable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in wf.TRANSIENT_KEYS and k != "__interrupt__"}


class Workflow:
    """The compiled job graph plus the two ways to drive it: start and resume."""

    def __init__(self, policy: Policy) -> None:
        from spoon_ai.graph import END, StateGraph

        quiet_spoon_engine()
        self.policy = policy
        self.checkpointer = StepCheckpointer()
        graph: Any = StateGraph(JobValues, checkpointer=self.checkpointer)
        nodes: dict[str, NodeFn] = {
            "request_analysis": self._request("analysis"),
            "await_analysis": self._await("analysis", wf.accept_analysis),
            "check_analysis": self._check_analysis,
            "request_match": self._request("match"),
            "await_match": self._await("match", wf.accept_match),
            "assemble": self._assemble,
            "complete": self._complete,
            "needs_information": self._needs_information,
            "fail": self._fail,
            "finalize": self._finalize,
        }
        for name, fn in nodes.items():
            graph.add_node(name, fn)
        graph.set_entry_point("request_analysis")
        graph.add_edge("request_analysis", "await_analysis")
        graph.add_conditional_edges(
            "await_analysis",
            _route,
            {"accept": "check_analysis", "rerequest": "request_analysis", "fail": "fail"},
        )
        graph.add_conditional_edges(
            "check_analysis",
            _route,
            {"sufficient": "request_match", "insufficient": "needs_information"},
        )
        graph.add_edge("request_match", "await_match")
        graph.add_conditional_edges(
            "await_match",
            _route,
            {"accept": "assemble", "rerequest": "request_match", "fail": "fail"},
        )
        graph.add_conditional_edges(
            "assemble", _route, {"completed": "complete", "insufficient": "needs_information"}
        )
        for terminal in ("complete", "needs_information", "fail"):
            graph.add_edge(terminal, "finalize")
        graph.add_edge("finalize", END)
        self.graph = graph
        self.app = graph.compile()

    # ------------------------------------------------------------------- nodes

    def _request(self, step: wf.Step) -> NodeFn:
        async def request(state: JobValues) -> dict[str, Any]:
            return wf.request_step(state, step, self.policy)

        return request

    def _await(self, step: wf.Step, accept: Callable[[JobValues], dict[str, Any]]) -> NodeFn:
        from spoon_ai.graph import interrupt

        async def wait(state: JobValues) -> dict[str, Any]:
            decision = wf.decide_wait(state, step, self.policy)
            if decision.action in ("wait", "ignore"):
                interrupt({"waitingFor": step, "ignored": decision.reason})
            if decision.action == "accept":
                return accept(state)
            if decision.action == "rerequest":
                return {"route": "rerequest", "signal": None}
            return {"route": "fail", "failure": decision.reason, "signal": None}

        return wait

    async def _check_analysis(self, state: JobValues) -> dict[str, Any]:
        reason = wf.check_analysis(state["analysis"] or {})
        if reason is None:
            return {"route": "sufficient"}
        return {"route": "insufficient", "failure": reason}

    async def _assemble(self, state: JobValues) -> dict[str, Any]:
        recs, summary = wf.assemble((state["matched"] or {}).get("items", []), self.policy.top_k)
        if summary is None:
            return {"route": "insufficient", "failure": wf.NO_MATCH_REASON}
        # Handed to ``complete`` (transient: never checkpointed) rather than built twice.
        return {"route": "completed", "assembled": {"recs": recs, "summary": summary}}

    async def _complete(self, state: JobValues) -> dict[str, Any]:
        assembled = state.get("assembled")
        if assembled:
            recs, summary = assembled["recs"], assembled["summary"]
        else:
            recs, summary = wf.assemble(
                (state["matched"] or {}).get("items", []), self.policy.top_k
            )
        return wf.finish(state, "completed", recommendations=recs, summary=summary)

    async def _needs_information(self, state: JobValues) -> dict[str, Any]:
        return wf.finish(state, "needs_more_information", reason=state.get("failure"))

    async def _fail(self, state: JobValues) -> dict[str, Any]:
        return wf.finish(state, "failed", reason=state.get("failure") or "The job failed.")

    async def _finalize(self, state: JobValues) -> dict[str, Any]:
        # The last node: a router key missing from a mapping ends a SpoonOS run silently,
        # so reaching here (and only here) marks a job as finished.
        if not state.get("done") or state.get("status") not in TERMINAL_STATES:
            raise WorkflowError(f"finalize reached with status {state.get('status')!r}")
        return {"route": None}

    # --------------------------------------------------------------- driving

    async def start(self, values: JobValues, *, now: float, cause_id: str) -> StepResult:
        state = dict(values) | {"now": now, "cause_id": cause_id, "outbox": {}, "signal": None}
        return await self._run(values["job_id"], state)

    async def resume(
        self,
        job_id: str,
        checkpoint: dict[str, Any],
        signal: dict[str, Any],
        *,
        now: float,
        cause_id: str,
    ) -> StepResult:
        from spoon_ai.graph import Command, StateSnapshot

        config = {"configurable": {"thread_id": job_id}}
        self.checkpointer.save_checkpoint(
            job_id,
            StateSnapshot(
                values=dict(checkpoint["values"]),
                next=tuple(checkpoint["next"]),
                config=config,
                metadata={"iteration": 0, "node": checkpoint["next"][0]},
                created_at=datetime.now(UTC),
            ),
        )
        resume = {"signal": signal, "now": now, "cause_id": cause_id, "outbox": {}, "route": None}
        return await self._run(job_id, Command(resume=resume))

    async def _run(self, job_id: str, initial: Any) -> StepResult:
        config = {"configurable": {"thread_id": job_id}, "max_iterations": 50}
        try:
            out = await self.app.invoke(initial, config=config)
            if "__interrupt__" in out:
                snapshot = self.checkpointer.get_checkpoint(job_id)
                interrupted = out["__interrupt__"][0]
                return StepResult(
                    values=_durable(snapshot.values),
                    next_node=str(snapshot.next[0]),
                    outbox=dict(out.get("outbox") or {}),
                    ignored=str((interrupted.get("value") or {}).get("ignored") or ""),
                )
            if not out.get("done"):
                raise WorkflowError(
                    f"workflow ended without finishing (status {out.get('status')!r}, "
                    f"route {out.get('route')!r})"
                )
            return StepResult(
                values=_durable(out), next_node=None, outbox=dict(out.get("outbox") or {})
            )
        finally:
            self.checkpointer.clear_thread(job_id)


def _route(state: JobValues) -> str:
    return str(state.get("route"))
