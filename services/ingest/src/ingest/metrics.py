"""Ingest's Prometheus metrics (the runtime's broker metrics are in the same registry)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "ingest_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "ingest_http_request_duration_seconds",
    "HTTP request latency (SSE: stream duration)",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
)
AUTH_FAILURES = Counter("ingest_auth_failures_total", "Rejected bearer tokens", ["reason"])
RATE_LIMITED = Counter("ingest_rate_limited_total", "Submits refused with 429")
SUBMITS = Counter("ingest_submits_total", "Accepted submits", ["outcome"])
SSE_STREAMS = Gauge("ingest_sse_streams", "Open Server-Sent Events streams")
