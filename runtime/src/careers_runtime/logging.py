"""Structured JSON logs: one line per event, with service, trace and job ids.

Job and trace ids come from context variables set by the delivery layer, so handler code
logs plainly (``log.info("analysis done")``) and still gets correlated lines. Never log
tokens or profile text: log ids, counts and durations.

Timestamps are ISO 8601 in UTC (``2026-11-28T08:36:53.219Z``); uvicorn's ANSI-coloured
``color_message`` copy of a message is dropped; a Kafka client error that repeats (a
broker that cannot be reached is retried every ~200 ms) is written once per
``REPEAT_WINDOW_S``, with the number of identical lines left out in ``suppressed``.
"""

import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime

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
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else None
        return True


def _iso_utc(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class _IsoJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_utc(record)


class _IsoTextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_utc(record)


REPEAT_WINDOW_S = 30.0
RATE_LIMITED_LOGGERS = ("aiokafka",)


class _RepeatLimiter(logging.Filter):
    """Lets one of identical warnings/errors of the Kafka client through per window."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S) -> None:
        super().__init__()
        self.window_s = window_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(RATE_LIMITED_LOGGERS):
            return True
        key = (record.name, record.getMessage())
        now = time.monotonic()
        last, suppressed = self._seen.get(key, (None, 0))
        if last is not None and now - last < self.window_s:
            self._seen[key] = (last, suppressed + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if suppressed:
            record.suppressed = suppressed
        return True


# Caller-controlled text reaches logs through messages and fields (an exception's text, a
# library's warning quoting its input): each is cut to these many characters, and in text
# logs control characters are escaped (JSON escapes them itself), so a line stays one
# bounded line whatever a caller sends.
MAX_MESSAGE_CHARS = 2000
MAX_FIELD_CHARS = 1000
_STANDARD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _bounded(text: str, limit: int, escape: bool) -> str:
    if len(text) > limit:
        text = f"{text[:limit]}... [{len(text)} chars]"
    if escape and not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text


class _BoundedFields(logging.Filter):
    def __init__(self, escape: bool) -> None:
        super().__init__()
        self.escape = escape

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        bounded = _bounded(message, MAX_MESSAGE_CHARS, self.escape)
        if bounded is not message:
            record.msg, record.args = bounded, ()
        for name, value in record.__dict__.items():
            if (
                isinstance(value, str)
                and name not in _STANDARD_FIELDS
                and (len(value) > MAX_FIELD_CHARS or (self.escape and not value.isprintable()))
            ):
                record.__dict__[name] = _bounded(value, MAX_FIELD_CHARS, self.escape)
        return True


class _NoBaggageText(logging.Filter):
    """OpenTelemetry's W3C baggage propagator quotes the caller's ``baggage`` header (or
    an entry of it) in its warnings: a 60 KB header became a 60 KB line, a token pasted
    there landed in the logs. The warning stays, the caller's text goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = (
            "a caller's baggage header (or part of it) was dropped: over W3C limits or malformed"
        )
        record.args = ()
        return True


BAGGAGE_LOGGER = "opentelemetry.baggage.propagation"


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RepeatLimiter())
    handler.addFilter(_BoundedFields(escape=fmt != "json"))
    baggage = logging.getLogger(BAGGAGE_LOGGER)
    if not any(isinstance(f, _NoBaggageText) for f in baggage.filters):
        baggage.addFilter(_NoBaggageText())
    handler.addFilter(_ContextFilter(service))
    if fmt == "json":
        handler.setFormatter(
            _IsoJsonFormatter(
                "{asctime}{levelname}{name}{message}{service}{job_id}{trace_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(
            _IsoTextFormatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka is chatty at INFO about every rebalance step; keep warnings.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


#: The one place the SpoonOS graph engine's log level is decided (agents and orchestrator):
#: it logs every edge at INFO, and a failing node at ERROR with a traceback that our
#: delivery policy logs again (once, with the record's context) when it retries or
#: dead-letters.
SPOON_ENGINE_LOG_LEVEL = logging.CRITICAL


def quiet_spoon_engine() -> None:
    logging.getLogger("spoon_ai.graph.engine").setLevel(SPOON_ENGINE_LOG_LEVEL)
