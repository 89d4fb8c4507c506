"""Tracing without an exporter: ids and propagation, nothing recorded."""

import subprocess
import sys
from pathlib import Path

import pytest
from careers_runtime import telemetry
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
            env={"PATH": "", "ENVIRONMENT": "test", **env},
            cwd=tmp_path,  # no .env file in reach
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert provider({}) == "PropagatingTracerProvider"
    assert provider({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}) == "TracerProvider"


# ------------------------------------------------- the delivery fast path (issue 17)


def _propagate_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "propagate_only", lambda: True)


@pytest.mark.parametrize(
    "header",
    [
        f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01",
        f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00",
        f"  00-{TRACE_ID}-{PARENT_SPAN_ID}-01",
        f"01-{TRACE_ID}-{PARENT_SPAN_ID}-01-future",
        f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01-extra",  # version 00 allows nothing more
        f"ff-{TRACE_ID}-{PARENT_SPAN_ID}-01",
        f"00-{'0' * 32}-{PARENT_SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-{PARENT_SPAN_ID}-01",
        "garbage",
        "",
        f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01" + " " * 600,
    ],
)
def test_continue_trace_is_what_extract_and_the_tracer_give(
    monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    """Same trace and sampling decision as ``propagate.extract`` + ``PropagatingTracer``."""
    _propagate_only(monkeypatch)
    with PropagatingTracer().start_as_current_span(
        "process", context=propagate.extract({"traceparent": header})
    ) as expected:
        pass
    span = telemetry.continue_trace({"traceparent": header})
    assert span is not None and not span.is_recording()
    got, want = span.get_span_context(), expected.get_span_context()
    assert got.is_valid and got.trace_flags == want.trace_flags
    parent = trace.get_current_span(propagate.extract({"traceparent": header}))
    if parent.get_span_context().is_valid:  # continued
        assert got.trace_id == want.trace_id == int(TRACE_ID, 16)
        assert got.span_id != int(PARENT_SPAN_ID, 16)
    else:  # a new sampled trace, as the tracer starts one
        assert got.trace_id != int(TRACE_ID, 16) and got.trace_flags.sampled


def test_continue_trace_leaves_baggage_tracestate_and_exporters_to_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    header = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    assert telemetry.continue_trace({"traceparent": header}) is None or telemetry.propagate_only()
    _propagate_only(monkeypatch)
    assert telemetry.continue_trace({"traceparent": header, "baggage": "k=v"}) is None
    assert telemetry.continue_trace({"traceparent": header, "tracestate": "a=b"}) is None


def test_child_traceparent_is_what_a_producer_span_would_inject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _propagate_only(monkeypatch)
    tracer = PropagatingTracer()
    for flags in ("01", "00"):
        parent = propagate.extract({"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-{flags}"})
        with tracer.start_as_current_span("process", context=parent) as span:
            headers = telemetry.child_traceparent()
            assert headers is not None
            version, trace_hex, span_hex, got_flags = headers["traceparent"].split("-")
            assert (version, trace_hex, got_flags) == ("00", TRACE_ID, flags)
            assert int(span_hex, 16) not in (0, span.get_span_context().span_id)
    headers = telemetry.child_traceparent()  # no current span: a new sampled trace
    assert headers is not None and headers["traceparent"].endswith("-01")
    assert TRACE_ID not in headers["traceparent"]


def test_propagate_only_needs_the_propagating_provider_and_w3c_propagators(
    tmp_path: Path,
) -> None:
    probe = (
        "from careers_runtime.settings import ServiceSettings\n"
        "from careers_runtime.telemetry import configure_tracing, propagate_only\n"
        "configure_tracing(ServiceSettings(service_name='probe'))\n"
        "print(propagate_only())\n"
    )

    def run(env: dict[str, str]) -> str:
        return subprocess.run(
            [sys.executable, "-c", probe],
            env={"PATH": "", "ENVIRONMENT": "test", **env},
            cwd=tmp_path,  # no .env file in reach
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert run({}) == "True"
    assert run({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}) == "False"
    assert run({"OTEL_PROPAGATORS": "tracecontext"}) == "False"
