"""Writes documents to Convex's HTTP actions with aiohttp (pooled, with timeouts, retried).

One ``ConvexWriter`` per process: the connection pool is created on start-up and closed
on shutdown, after the consumers have drained. ``write`` returns only once Convex has
confirmed the document (200); the caller (a delivery handler) returns after that, so the
runtime commits the offset only for confirmed writes.

Batching: the runtime runs the records of a fetched batch concurrently (up to
``MAX_IN_FLIGHT``), one handler each. Their documents are not posted one by one: each
``write`` queues its document, and the writes queued in the same turn of the event loop
go to Convex in one ``POST /sync/batch`` (``CONVEX_BATCH_MAX_DOCUMENTS`` /
``CONVEX_BATCH_MAX_BYTES`` per request). Convex answers one result per document, with the
status the single-document action would have answered, so each ``write`` still decides
on its own document: confirmed, retried (408/429/5xx, or the whole request failing, with
its Retry-After) or rejected (4xx: dead-lettered with Convex's answer). A retried document
joins whatever batch is being formed when its backoff ends. A deployment without the
batch action (404) switches the writer to one request per document.

aiohttp rather than httpx: on the reference machine a pooled POST costs ~0.15-0.2 ms of
CPU with aiohttp against ~0.9 ms with httpx, and still ~0.44 ms with httpx over aiohttp's
transport (httpx-aiohttp; ``docs/benchmarks.md``). convex-sync made three of them per
job before batching, and still makes one per batch.
"""

import asyncio
import contextvars
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from careers_runtime.backoff import Backoff
from careers_runtime.codec import PermanentError
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic_core import from_json, to_json

from convex_sync import metrics
from convex_sync.domain.documents import BATCH_PATH, ConvexWrite
from convex_sync.domain.retry import WriteOutcome, classify, next_delay, parse_retry_after
from convex_sync.settings import ConvexSyncSettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("careers.convex")

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


@dataclass(frozen=True)
class ConvexResponse:
    """What a write needs from an HTTP response, read in full (the connection is free)."""

    status: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy)
    body: bytes
    charset: str | None
    # A document's result from a batch response, already parsed (body is then its JSON).
    data: Any = None

    @property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            return repr(self.body[:MAX_ERROR_BODY])


_Queued = tuple[ConvexWrite, "asyncio.Future[ConvexResponse]", trace.Link | None]


def _fail(future: "asyncio.Future[ConvexResponse]", exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, Exception):
        future.set_exception(exc)
    else:  # cancelled (shutdown): so is the write waiting for it
        future.cancel()


def _transport_reason(exc: BaseException) -> str:
    """A short, stable label for a failed request (metrics and the retry log)."""
    return "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__


class ConvexWriter:
    def __init__(self, settings: ConvexSyncSettings) -> None:
        self.settings = settings
        self.backoff = Backoff(settings.convex_backoff_base_s, settings.convex_backoff_max_s)
        self._session: aiohttp.ClientSession | None = None
        self.batching = settings.convex_batch_max_documents > 0
        self._queue: list[_Queued] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def make_session(self) -> aiohttp.ClientSession:
        settings = self.settings
        return aiohttp.ClientSession(
            base_url=settings.convex_site_url.rstrip("/") + "/",
            headers={
                SECRET_HEADER: settings.convex_sync_secret.get_secret_value(),
                "User-Agent": f"{settings.service_name}/0.1 aiohttp",
            },
            timeout=aiohttp.ClientTimeout(
                total=settings.convex_timeout_s, connect=min(5.0, settings.convex_timeout_s)
            ),
            connector=aiohttp.TCPConnector(
                limit=settings.convex_max_connections, keepalive_timeout=30
            ),
            # Convex answers JSON; nothing here needs cookies.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def start(self) -> None:
        if self._session is None:
            self._session = self.make_session()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ConvexWriter.start() was not called")
        return self._session

    async def post(
        self, path: str, body: bytes, links: list[trace.Link] | None = None
    ) -> ConvexResponse:
        """One POST of a JSON body, read in full; a span per request (a child of the
        current span; a batch's span links to its records' spans instead)."""
        started = time.perf_counter()
        status = "transport"
        try:
            with tracer.start_as_current_span(
                f"POST {path}",
                kind=trace.SpanKind.CLIENT,
                attributes={"http.request.method": "POST", "url.path": path},
                links=links,
            ) as span:
                # A redirect means a wrong URL (e.g. .convex.cloud); surface it, don't follow.
                # A ready payload: no per-request header merge (cheaper than headers=).
                payload = aiohttp.BytesPayload(body, content_type="application/json")
                async with self.session.post(
                    path.lstrip("/"), data=payload, allow_redirects=False
                ) as response:
                    data = await response.read()
                    status = str(response.status)
                    span.set_attribute("http.response.status_code", response.status)
                    return ConvexResponse(response.status, response.headers, data, response.charset)
        finally:
            metrics.REQUEST_SECONDS.labels(path, status).observe(time.perf_counter() - started)

    # ------------------------------------------------------------------ batching

    async def send(self, write: ConvexWrite) -> ConvexResponse:
        """Convex's answer for this one document (raises on a transport error)."""
        if not self.batching:
            return await self.post(write.path, write.body)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ConvexResponse] = loop.create_future()
        if not self._queue:
            # Runs after every handler that is ready now has queued its document.
            loop.call_soon(self._flush)
        span = trace.get_current_span()
        link = trace.Link(span.get_span_context()) if span.is_recording() else None
        self._queue.append((write, future, link))
        return await future

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        max_docs = self.settings.convex_batch_max_documents
        max_bytes = self.settings.convex_batch_max_bytes
        chunk: list[_Queued] = []
        size = 0
        for item in queue:
            if item[1].done():  # its handler was cancelled meanwhile
                continue
            item_size = len(item[0].batch_item) + 1
            if chunk and (len(chunk) >= max_docs or size + item_size > max_bytes):
                self._spawn(chunk)
                chunk, size = [], 0
            chunk.append(item)
            size += item_size
        if chunk:
            self._spawn(chunk)

    def _spawn(self, chunk: list["_Queued"]) -> None:
        # A fresh context: the request's span is not the child of one record's span (it
        # links to every record's span instead).
        task = asyncio.get_running_loop().create_task(
            self._send_batch(chunk), context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_batch(self, chunk: list["_Queued"]) -> None:
        if not self.batching:  # switched off meanwhile (a deployment without the action)
            for write, future, _ in chunk:
                self._resolve_later(future, self.post(write.path, write.body))
            return
        body = b'{"documents":[' + b",".join(item[0].batch_item for item in chunk) + b"]}"
        links = [item[2] for item in chunk if item[2] is not None]
        if len(chunk) == 1 and links:
            # One document (the usual case at low load): a child of its record's span, as
            # a single-document POST was; several: a span of its own, linked to each.
            parent = trace.NonRecordingSpan(links[0].context)
            otel_context.attach(trace.set_span_in_context(parent))
            links = []
        try:
            response = await self.post(BATCH_PATH, body, links or None)
        except BaseException as exc:  # transport error (or cancelled): every document's
            for _, future, _ in chunk:
                _fail(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        if response.status == 404:
            log.warning(
                "Convex has no POST %s (deploy deploy/convex first); "
                "writing one document per request",
                BATCH_PATH,
            )
            self.batching = False
            for write, future, _ in chunk:
                self._resolve_later(future, self.post(write.path, write.body))
            return
        results = self._results(response, len(chunk))
        for (_, future, _), result in zip(chunk, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _resolve_later(self, future: asyncio.Future[ConvexResponse], post: Any) -> None:
        async def run() -> None:
            try:
                result = await post
            except BaseException as exc:
                _fail(future, exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                if not future.done():
                    future.set_result(result)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _results(response: ConvexResponse, count: int) -> list[ConvexResponse]:
        """Each document's answer: its own result from a 200, else the whole response."""
        if response.status != 200:
            return [response] * count
        try:
            results = from_json(response.body)["results"]
            if not isinstance(results, list) or len(results) != count:
                raise ValueError("results: not one per document")
            answers = []
            for result in results:
                status = int(result["status"])
                body = b"" if status == 200 else to_json(result)
                answers.append(ConvexResponse(status, response.headers, body, "utf-8", data=result))
            return answers
        except (ValueError, KeyError, TypeError):
            # A 200 without the documented body confirms nothing: permanent for each
            # (``_confirmed`` finds no id in it and raises ConvexRejectedError).
            return [response] * count

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
                response = await self.send(write)
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
