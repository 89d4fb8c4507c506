"""OpenTelemetry set-up: one tracer provider per process, OTLP export when configured.

W3C trace context is injected into Kafka headers by ``codec.encode`` and extracted by
``delivery`` so that one job is one trace across every service.
"""

import functools
from collections.abc import Awaitable, Callable

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from careers_runtime.settings import ServiceSettings

_configured = False


def configure_tracing(
    settings: ServiceSettings, extra_processors: tuple[SpanProcessor, ...] = ()
) -> TracerProvider | None:
    """Install the global tracer provider once. Returns it (or None if already set)."""
    global _configured
    if _configured:
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


__all__ = ["configure_tracing", "current_trace_id", "traced_node"]
