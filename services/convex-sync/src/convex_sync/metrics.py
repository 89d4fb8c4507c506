"""convex-sync's own Prometheus metrics (the runtime's consumer metrics come on top)."""

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "convex_sync_request_duration_seconds",
    "Latency of one HTTP request to a Convex HTTP action",
    ["endpoint", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES = Counter(
    "convex_sync_responses_total",
    "Responses from Convex HTTP actions by status code ('transport' = no response)",
    ["endpoint", "status"],
)
DOCUMENTS = Counter(
    "convex_sync_documents_total",
    "Documents Convex confirmed: created, or already present (a duplicate delivery)",
    ["endpoint", "result"],
)
RETRIES = Counter(
    "convex_sync_retries_total",
    "In-process retries of a Convex write, by the reason of the failed attempt",
    ["endpoint", "reason"],
)
RETRY_WAIT_SECONDS = Counter(
    "convex_sync_retry_wait_seconds_total",
    "Time spent waiting between attempts (backoff and Retry-After)",
    ["endpoint"],
)
