"""OpenTelemetry set-up: one tracer provider per process, OTLP export when configured.

W3C trace context is injected into Kafka headers by ``codec.encode`` and extracted by
``delivery`` so that one job is one trace across every service.
"""

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
