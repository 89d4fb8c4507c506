"""Structured JSON logs: one line per event, with service, trace and job ids.

Job and trace ids come from context variables set by the delivery layer, so handler code
logs plainly (``log.info("analysis done")``) and still gets correlated lines. Never log
tokens or profile text: log ids, counts and durations.
"""

import logging
import sys
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.job_id = job_id_var.get()
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else None
        return True


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{service}{job_id}{trace_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka is chatty at INFO about every rebalance step; keep warnings.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def log_extra(**fields: Any) -> dict[str, Any]:
    """``log.info("msg", extra=log_extra(count=3))`` — structured fields on one line."""
    return fields
