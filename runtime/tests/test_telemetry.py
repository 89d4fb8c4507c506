"""Tracing without an exporter: ids and propagation, nothing recorded."""

import subprocess
import sys
from pathlib import Path

from careers_runtime.telemetry import PropagatingTracer
from opentelemetry import propagate, trace

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"


def _traceparent() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier["traceparent"]


def test_a_root_span_starts_a_sampled_trace_and_children_join_it() -> None:
    tracer = PropagatingTracer()
    with tracer.start_as_current_span("root") as root:
        root_context = root.get_span_context()
        assert root_context.is_valid and root_context.trace_flags.sampled
        assert not root.is_recording(), "nothing is recorded without an exporter"
        with tracer.start_as_current_span("child") as child:
            child_context = child.get_span_context()
            header = _traceparent()
    assert child_context.trace_id == root_context.trace_id
    assert child_context.span_id != root_context.span_id, "every span has its own id"
    assert header == f"00-{child_context.trace_id:032x}-{child_context.span_id:016x}-01"
    assert not trace.get_current_span().get_span_context().is_valid, "context restored"


def test_an_incoming_traceparent_is_continued_with_its_sampling_decision() -> None:
    tracer = PropagatingTracer()
    for flags in ("01", "00"):
        parent = propagate.extract({"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-{flags}"})
        with tracer.start_as_current_span("server", context=parent) as span:
            header = _traceparent()
        span_id = span.get_span_context().span_id
        assert header == f"00-{TRACE_ID}-{span_id:016x}-{flags}"
        assert f"{span_id:016x}" != PARENT_SPAN_ID


def test_start_span_does_not_change_the_current_span() -> None:
    tracer = PropagatingTracer()
    span = tracer.start_span("producer")
    assert span.get_span_context().is_valid
    assert not trace.get_current_span().get_span_context().is_valid
    with trace.use_span(span, end_on_exit=False):
        assert trace.get_current_span() is span


def test_configure_tracing_records_only_when_something_exports(tmp_path: Path) -> None:
    """Checked in fresh interpreters: the global provider can be set once per process."""
    probe = (
        "from careers_runtime.settings import ServiceSettings\n"
        "from careers_runtime.telemetry import configure_tracing\n"
        "from opentelemetry import trace\n"
        "configure_tracing(ServiceSettings(service_name='probe'))\n"
        "print(type(trace.get_tracer_provider()).__name__)\n"
    )

    def provider(env: dict[str, str]) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env={"PATH": "", **env},
            cwd=tmp_path,  # no .env file in reach
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert provider({}) == "PropagatingTracerProvider"
    assert provider({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}) == "TracerProvider"
