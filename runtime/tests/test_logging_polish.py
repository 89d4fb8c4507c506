"""Logs: ISO 8601 UTC times, no ANSI copies, repeated Kafka errors rate-limited; SIGTERM
is honoured while a worker is still trying to reach its broker."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from careers_runtime.logging import _RepeatLimiter, configure_logging
from careers_tools.local_servers import free_port

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_have_iso_utc_times_and_no_color_message(
    capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    configure_logging("svc", "INFO", "json")
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 1, extra={"color_message": "\x1b[36m%d\x1b[0m"}
    )
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ISO_UTC.match(record["time"]), record["time"]
    assert "color_message" not in record
    assert record["message"] == "Started server process [1]"


def test_text_lines_have_iso_utc_times(
    capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    configure_logging("svc", "INFO", "text")
    logging.getLogger("x").warning("hello")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert ISO_UTC.match(line.split(" ")[0]), line


def test_repeated_kafka_errors_are_written_once_per_window() -> None:
    limiter = _RepeatLimiter(window_s=0.2)

    def record(name: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    first = [limiter.filter(record("aiokafka", "Unable connect")) for _ in range(50)]
    assert first.count(True) == 1
    assert limiter.filter(record("aiokafka", "another error"))  # a different message
    assert limiter.filter(record("careers_runtime.app", "Unable connect"))  # not Kafka's
    assert all(limiter.filter(record("aiokafka", "info", logging.INFO)) for _ in range(3))
    time.sleep(0.25)
    again = record("aiokafka", "Unable connect")
    assert limiter.filter(again)
    assert again.suppressed == 49  # type: ignore[attr-defined]


@pytest.mark.slow
def test_sigterm_while_connecting_exits_at_once_with_few_error_lines() -> None:
    unreachable = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "convex_sync"],
        env={
            "PATH": os.environ["PATH"],
            "ENVIRONMENT": "test",
            "KAFKA_BOOTSTRAP_SERVERS": unreachable,
            "CONVEX_SYNC_SECRET": "x",
            "HTTP_PORT": str(free_port()),
            "SHUTDOWN_GRACE_S": "5",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")))
    reader.start()
    deadline = time.monotonic() + 60
    # Workers serve HTTP first and connect in the background (careers_runtime.app), logging
    # one line naming the setting while Kafka cannot be reached.
    while not any("Kafka unreachable" in line for line in list(output)):
        assert time.monotonic() < deadline, "never tried to connect"
        time.sleep(0.1)
    time.sleep(4)  # ~20 more connection attempts
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    process.wait(timeout=15)
    took = time.monotonic() - started
    reader.join(timeout=5)
    assert took < 5, f"took {took:.1f} s to stop"
    text = "".join(output)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert 1 <= len(errors) <= 2, errors
    assert any(line["message"] == "Application shutdown complete." for line in lines)
    assert "Traceback" not in text


def test_a_callers_baggage_is_never_logged(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 25: OpenTelemetry's baggage propagator quoted the caller's header in a
    WARNING (a 60 KB header, a 60 KB line; a token pasted there, in the logs)."""
    from careers_runtime.logging import configure_logging
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    configure_logging("baggage-test", "INFO", "json")
    propagator = W3CBaggagePropagator()
    for header in (
        "token=sk_live_SECRET," + "x" * 60_000,  # over the W3C size limit
        "sk_live_SECRET_not_a_pair",  # malformed entry
        "bad key=sk_live_SECRET",  # invalid entry
    ):
        propagator.extract({"baggage": header})
    out = capsys.readouterr().out
    assert "SECRET" not in out and "xxxx" not in out
    lines = out.splitlines()
    assert len(lines) == 3 and all(len(line) < 500 for line in lines), lines


def test_caller_text_in_a_log_line_is_bounded_and_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from careers_runtime.logging import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, configure_logging

    log = logging.getLogger("careers.test.bounded")
    configure_logging("bounded-test", "INFO", "text")
    log.warning("refused %s", "a\nforged line" + "y" * 10_000, extra={"error": "e\r\n" * 2000})
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out[:300]  # one line: the caller's newline is escaped
    assert len(out) < MAX_MESSAGE_CHARS + MAX_FIELD_CHARS + 500
    configure_logging("bounded-test", "INFO", "json")
    log.warning("refused %s", "z" * 10_000, extra={"error": "e" * 10_000})
    record = json.loads(capsys.readouterr().out)
    assert len(record["message"]) < MAX_MESSAGE_CHARS + 50
    assert len(record["error"]) < MAX_FIELD_CHARS + 50
