"""Prometheus metrics shared by every service (served on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("careers_messages_consumed_total", "Records consumed", ["topic", "group"])
PRODUCED = Counter("careers_messages_produced_total", "Records produced", ["topic"])
FAILED = Counter(
    "careers_messages_failed_total", "Handler failures", ["topic", "group", "error_class"]
)
RETRIED = Counter("careers_messages_retried_total", "Records sent to retry", ["topic", "group"])
DEAD_LETTERED = Counter(
    "careers_messages_dead_lettered_total",
    "Records dead-lettered",
    ["topic", "group", "error_class"],
)
HANDLER_SECONDS = Histogram(
    "careers_handler_duration_seconds",
    "Handler latency per record",
    ["topic", "group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge(
    "careers_consumer_lag", "Records behind the partition end", ["topic", "partition", "group"]
)
IN_FLIGHT = Gauge("careers_in_flight", "Records being processed", ["group"])
COMPUTE_CPU_SECONDS = Gauge(
    "careers_compute_cpu_seconds",
    "CPU seconds used so far by the compute thread (an agent's graph runs), by loop name",
    ["loop"],
)
