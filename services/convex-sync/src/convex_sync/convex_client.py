"""Writes documents to Convex's HTTP actions with httpx (pooled, with timeouts, retried).

One ``ConvexWriter`` per process: the connection pool is created on start-up and closed
on shutdown, after the consumers have drained. ``write`` returns only once Convex has
confirmed the document (200); the caller (a delivery handler) returns after that, so the
runtime commits the offset only for confirmed writes.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from careers_runtime.codec import PermanentError

from convex_sync import metrics
from convex_sync.domain.documents import ConvexWrite
from convex_sync.domain.retry import Backoff, Outcome, classify, next_delay, parse_retry_after
from convex_sync.settings import ConvexSyncSettings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Convex-Sync-Secret"  # noqa: S105 - a header name, not a secret
MAX_ERROR_BODY = 2000


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


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, LookupError):
        return repr(response.content[:MAX_ERROR_BODY])


class ConvexWriter:
    def __init__(self, settings: ConvexSyncSettings) -> None:
        self.settings = settings
        self.backoff = Backoff(settings.convex_backoff_base_s, settings.convex_backoff_max_s)
        self._client: httpx.AsyncClient | None = None

    def make_client(self) -> httpx.AsyncClient:
        settings = self.settings
        size = settings.convex_max_connections
        return httpx.AsyncClient(
            base_url=settings.convex_site_url.rstrip("/"),
            headers={
                SECRET_HEADER: settings.convex_sync_secret.get_secret_value(),
                "User-Agent": f"{settings.service_name}/0.1 httpx",
            },
            timeout=httpx.Timeout(
                settings.convex_timeout_s, connect=min(5.0, settings.convex_timeout_s)
            ),
            limits=httpx.Limits(
                max_connections=size, max_keepalive_connections=size, keepalive_expiry=30
            ),
            # A redirect means a wrong URL (e.g. .convex.cloud); surface it, don't follow.
            follow_redirects=False,
        )

    async def start(self) -> None:
        if self._client is None:
            self._client = self.make_client()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("ConvexWriter.start() was not called")
        return self._client

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
            started = time.perf_counter()
            try:
                response = await self.client.post(path, json=write.document)
            except httpx.TransportError as exc:
                reason = type(exc).__name__
                last_error = f"{reason}: {exc}" if str(exc) else reason
            else:
                status_label = str(response.status_code)
                outcome = classify(response.status_code)
                if outcome is Outcome.OK:
                    return self._confirmed(path, response, started, failures)
                body = _body_text(response)
                if outcome is Outcome.PERMANENT:
                    self._observe(path, status_label, started)
                    if response.status_code in (401, 403):
                        log.error(
                            "Convex rejected the service secret: check CONVEX_SYNC_SECRET",
                            extra={"endpoint": path, "status": response.status_code},
                        )
                    raise ConvexRejectedError(path, response.status_code, body)
                reason = status_label
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                last_error = f"HTTP {response.status_code}: {body[:200]}"
            self._observe(path, status_label, started)
            failures += 1
            delay = next_delay(self.backoff, failures, retry_after, deadline - time.monotonic())
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

    def _observe(self, path: str, status: str, started: float) -> None:
        metrics.REQUEST_SECONDS.labels(path, status).observe(time.perf_counter() - started)
        metrics.RESPONSES.labels(path, status).inc()

    def _confirmed(
        self, path: str, response: httpx.Response, started: float, failures: int
    ) -> WriteResult:
        self._observe(path, str(response.status_code), started)
        try:
            body: Any = response.json()
            result = WriteResult(str(body["id"]), bool(body["created"]), failures + 1)
        except (ValueError, KeyError, TypeError) as exc:
            # A 2xx without the documented body is not a confirmation we can trust.
            raise ConvexRejectedError(
                path, response.status_code, f"unexpected response body: {_body_text(response)}"
            ) from exc
        metrics.DOCUMENTS.labels(path, "created" if result.created else "existing").inc()
        return result
