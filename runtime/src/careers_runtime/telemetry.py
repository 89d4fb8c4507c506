"""OpenTelemetry set-up: one tracer provider per process, OTLP export when configured.

W3C trace context is injected into Kafka headers by ``codec.encode`` and extracted by
``delivery`` so that one job is one trace across every service.
"""

import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

from careers_runtime.settings import ServiceSettings

_configured = False


class PropagatingTracer(trace.Tracer):
    """Spans with ids that record nothing: what a process needs when nothing exports.

    Each span joins the caller's trace (or starts one, sampled) with a fresh span id, so
    ``traceparent`` still flows through HTTP and Kafka headers, downstream services that
    do export still see one trace per job, and log lines still carry the trace id. What
    the SDK would record (attributes, timings, events) has no reader without an exporter,
    and recording it, several spans per event, is a large share of a submit's or a Kafka
    record's CPU (docs/benchmarks.md).
    """

    def __init__(self) -> None:
        self._ids = RandomIdGenerator()

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            trace_id, flags, state = parent.trace_id, parent.trace_flags, parent.trace_state
        else:
            trace_id = self._ids.generate_trace_id()
            flags, state = trace.TraceFlags(trace.TraceFlags.SAMPLED), None
        return trace.NonRecordingSpan(
            trace.SpanContext(
                trace_id,
                self._ids.generate_span_id(),
                is_remote=False,
                trace_flags=flags,
                trace_state=state,
            )
        )

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, name: str, context: otel_context.Context | None = None, *_: Any, **__: Any
    ) -> Iterator[trace.Span]:
        """Kind, attributes, links and the rest describe what would be recorded: ignored."""
        span = self.start_span(name, context)
        token = otel_context.attach(trace.set_span_in_context(span, context))
        try:
            yield span
        finally:
            otel_context.detach(token)


class PropagatingTracerProvider(trace.TracerProvider):
    """Hands out one ``PropagatingTracer`` (see there)."""

    def __init__(self) -> None:
        self._tracer = PropagatingTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return self._tracer


# ---------------------------------------------------------------- the delivery fast path
#
# With nothing recording (``PropagatingTracerProvider``) and W3C's default propagators
# (trace context + baggage), a consumed record's span and a produced record's
# ``traceparent`` are only ids: ``delivery`` builds them here directly, the same ids and
# headers the tracer and the propagators would give, at a fraction of the cost per record
# (no propagator chain, no context manager, one context attach). Anything else (an
# exporter, other propagators, baggage or ``tracestate`` to carry on) takes the SDK path.

_TRACEPARENT = TraceContextTextMapPropagator._TRACEPARENT_HEADER_FORMAT_RE
_TRACEPARENT_MAX = TraceContextTextMapPropagator._TRACEPARENT_MAXIMUM_LENGTH
_ID_GENERATOR = RandomIdGenerator()
_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_default_textmap: list[Any] = [None, False]  # the last global textmap seen, and whether W3C's


def propagate_only() -> bool:
    """Nothing records spans and the propagators are W3C's defaults (see above)."""
    if type(trace.get_tracer_provider()) is not PropagatingTracerProvider:
        return False
    textmap = propagate.get_global_textmap()
    if textmap is not _default_textmap[0]:
        kinds = [type(p) for p in getattr(textmap, "_propagators", ())]
        _default_textmap[:] = [
            textmap,
            isinstance(textmap, CompositePropagator)
            and kinds == [TraceContextTextMapPropagator, W3CBaggagePropagator],
        ]
    return bool(_default_textmap[1])


def continue_trace(headers: Mapping[str, str]) -> trace.Span | None:
    """A consumed record's span: the record's ``traceparent`` continued with a new span id
    (or a new sampled trace without a valid one), as ``propagate.extract`` and the
    ``PropagatingTracer`` would make it. None: take the SDK path (``propagate_only`` is
    false, or the record carries baggage or a ``tracestate``)."""
    if "baggage" in headers or "tracestate" in headers or not propagate_only():
        return None
    trace_id = 0
    flags = _SAMPLED
    header = headers.get("traceparent")
    if header and len(header) <= _TRACEPARENT_MAX and (match := _TRACEPARENT.search(header)):
        version, trace_hex, span_hex, flags_hex, rest = match.groups()
        if (
            trace_hex != "0" * 32
            and span_hex != "0" * 16
            and version != "ff"
            and not (version == "00" and rest)
        ):
            trace_id = int(trace_hex, 16)
            flags = trace.TraceFlags(int(flags_hex, 16))
    if not trace_id:
        trace_id = _ID_GENERATOR.generate_trace_id()
    return trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id, _ID_GENERATOR.generate_span_id(), is_remote=False, trace_flags=flags
        )
    )


def child_traceparent() -> dict[str, str] | None:
    """The trace headers a new producer span under the current span would inject (a new
    span id in the current trace, or a new sampled trace). None: take the SDK path
    (``propagate_only`` is false, or the context holds baggage or a ``tracestate``)."""
    if not propagate_only():
        return None
    context = otel_context.get_current()
    if baggage.get_all(context):
        return None
    parent = trace.get_current_span(context).get_span_context()
    if parent.trace_state:
        return None
    return traceparent_under(parent)


def traceparent_under(parent: trace.SpanContext) -> dict[str, str]:
    """``child_traceparent`` for a known parent without baggage or ``tracestate`` (the
    span ``continue_trace`` made): the consumer passes its record's span, skipping the
    context look-ups for every output."""
    if parent.is_valid:
        trace_id, flags = parent.trace_id, parent.trace_flags
    else:
        trace_id, flags = _ID_GENERATOR.generate_trace_id(), _SAMPLED
    span_id = _ID_GENERATOR.generate_span_id()
    return {"traceparent": f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"}


def configure_tracing(
    settings: ServiceSettings, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider | None:
    """Install the global tracer provider once. Returns it (or None if already set).

    With an OTLP endpoint (or extra processors) spans are recorded by the SDK and
    exported; without, the process only propagates trace context (``PropagatingTracer``).
    """
    global _configured
    if _configured:
        return None
    if not settings.otel_exporter_otlp_endpoint and not extra_processors:
        trace.set_tracer_provider(PropagatingTracerProvider())
        _configured = True
        return None
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": settings.service_name,
                "service.namespace": settings.otel_service_namespace,
                "deployment.environment": settings.environment,
            }
        )
    )
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    for processor in extra_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


def traced_node[**P, R](
    name: str, fn: Callable[P, Awaitable[R]], *, component: str = "graph"
) -> Callable[P, Awaitable[R]]:
    """Wrap an async StateGraph node so each run of it is a span of the job's trace."""
    tracer = trace.get_tracer(f"careers.{component}")

    @functools.wraps(fn)
    async def node(*args: P.args, **kwargs: P.kwargs) -> R:
        with tracer.start_as_current_span(f"{component}.{name}", attributes={"graph.node": name}):
            return await fn(*args, **kwargs)

    return node


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


__all__ = [
    "PropagatingTracer",
    "PropagatingTracerProvider",
    "child_traceparent",
    "configure_tracing",
    "continue_trace",
    "current_trace_id",
    "propagate_only",
    "traced_node",
    "traceparent_under",
]
