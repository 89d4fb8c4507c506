"""Writes a document to Convex until Convex confirms it, or says why it never will.

One ``ConvexWriter`` per process. ``write`` returns only once Convex has confirmed the
document (200); the caller (a delivery handler) returns after that, so the runtime commits
the offset only for confirmed writes. 408/429/5xx and transport errors are retried after
the shared backoff, never sooner than Retry-After, within ``CONVEX_MAX_RETRY_S``; any other
4xx is permanent (dead-lettered with Convex's answer). The document goes out through the
batcher (``convex_sync.batcher``), so a retried document joins whatever batch is being
formed when its backoff ends.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from careers_runtime.backoff import Backoff
from careers_runtime.codec import PermanentError
from pydantic_core import from_json, to_json

from convex_sync import metrics
from convex_sync.batcher import ConvexBatcher
from convex_sync.convex_http import MAX_ERROR_BODY, ConvexHttp, ConvexResponse
from convex_sync.domain.documents import ConvexWrite
from convex_sync.domain.retry import WriteOutcome, classify, next_delay, parse_retry_after
from convex_sync.settings import ConvexSyncSettings

log = logging.getLogger(__name__)


class ConvexRejectedError(PermanentError):
    """Convex answered a permanent 4xx: the record goes to the dead-letter topic."""

    def __init__(self, path: str, status: int, body: str) -> None:
        super().__init__(f"Convex {path} answered {status}: {body[:MAX_ERROR_BODY]}")
        self.status = status
        self.body = body


class ConvexUnavailableError(Exception):
    """Still failing (retryable) when the in-process retry budget ran out."""


@dataclass(frozen=True)
class WriteResult:
    id: str
    created: bool
    attempts: int


def _transport_reason(exc: BaseException) -> str:
    """A short, stable label for a failed request (metrics and the retry log)."""
    return "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__


class ConvexWriter:
    def __init__(self, settings: ConvexSyncSettings) -> None:
        self.settings = settings
        self.backoff = Backoff(settings.convex_backoff_base_s, settings.convex_backoff_max_s)
        self.http = ConvexHttp(settings)
        self.batcher = ConvexBatcher(self.http)

    async def start(self) -> None:
        await self.http.start()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def write(self, write: ConvexWrite) -> WriteResult:
        """POST the document until Convex confirms it; raise when that cannot happen.

        Raises ``ConvexRejectedError`` (permanent: dead-letter) or
        ``ConvexUnavailableError`` (retryable, budget spent: the runtime's retry topic).
        """
        path = write.path
        deadline = time.monotonic() + self.settings.convex_max_retry_s
        failures = 0
        while True:
            status_label = "transport"
            retry_after: float | None = None
            try:
                response = await self.batcher.send(write)
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = _transport_reason(exc)
                last_error = f"{reason}: {exc}" if str(exc) else reason
            else:
                status_label = str(response.status)
                outcome = classify(response.status)
                if outcome is WriteOutcome.OK:
                    return self._confirmed(path, response, failures)
                body = response.text
                if outcome is WriteOutcome.PERMANENT:
                    self._observe(path, status_label)
                    if response.status in (401, 403):
                        log.error(
                            "Convex rejected the service secret: check CONVEX_SYNC_SECRET",
                            extra={"endpoint": path, "status": response.status},
                        )
                    raise ConvexRejectedError(path, response.status, body)
                reason = status_label
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                last_error = f"HTTP {response.status}: {body[:200]}"
            self._observe(path, status_label)
            failures += 1
            delay = next_delay(
                self.backoff.delay_s(failures), retry_after, deadline - time.monotonic()
            )
            if delay is None:
                raise ConvexUnavailableError(
                    f"Convex {path} still failing after {failures} attempt(s) in "
                    f"{self.settings.convex_max_retry_s:g}s: {last_error}"
                )
            metrics.RETRIES.labels(path, reason).inc()
            metrics.RETRY_WAIT_SECONDS.labels(path).inc(delay)
            log.info(
                "Convex write failed, retrying",
                extra={
                    "endpoint": path,
                    "reason": reason,
                    "attempt": failures,
                    "retry_in_s": round(delay, 3),
                },
            )
            await asyncio.sleep(delay)

    def _observe(self, path: str, status: str) -> None:
        """One answer for one document (request latencies are observed per request)."""
        metrics.RESPONSES.labels(path, status).inc()

    def _confirmed(self, path: str, response: ConvexResponse, failures: int) -> WriteResult:
        self._observe(path, str(response.status))
        try:
            body: Any = response.data if response.data is not None else from_json(response.body)
            result = WriteResult(str(body["id"]), bool(body["created"]), failures + 1)
        except (ValueError, KeyError, TypeError) as exc:
            # A 2xx without the documented body is not a confirmation we can trust.
            text = response.text if response.data is None else to_json(response.data).decode()
            raise ConvexRejectedError(
                path, response.status, f"unexpected response body: {text}"
            ) from exc
        metrics.DOCUMENTS.labels(path, "created" if result.created else "existing").inc()
        return result
