"""Documents written in the same event-loop turn go to Convex in one ``POST /sync/batch``.

The runtime runs the records of a fetched batch concurrently (up to ``MAX_IN_FLIGHT``), one
handler each. Their documents are not posted one by one: each ``send`` queues its document,
and the documents queued in the same turn of the event loop go to Convex in one request
(``CONVEX_BATCH_MAX_DOCUMENTS`` / ``CONVEX_BATCH_MAX_BYTES`` per request). Convex answers
one result per document, with the status the single-document action would have answered,
so ``send`` hands each caller its own document's answer (the writer then decides:
confirmed, retried or rejected). A deployment without the batch action (404) switches the
batcher to one request per document.
"""

import asyncio
import contextvars
import logging
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic_core import from_json, to_json

from convex_sync.convex_http import ConvexHttp, ConvexResponse
from convex_sync.domain.documents import BATCH_PATH, ConvexWrite

log = logging.getLogger(__name__)

_Queued = tuple[ConvexWrite, "asyncio.Future[ConvexResponse]", trace.Link | None]


def _fail(future: "asyncio.Future[ConvexResponse]", exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, Exception):
        future.set_exception(exc)
    else:  # cancelled (shutdown): so is the write waiting for it
        future.cancel()


class ConvexBatcher:
    def __init__(self, http: ConvexHttp) -> None:
        self.http = http
        settings = http.settings
        self.max_documents = settings.convex_batch_max_documents
        self.max_bytes = settings.convex_batch_max_bytes
        self.batching = self.max_documents > 0
        self._queue: list[_Queued] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, write: ConvexWrite) -> ConvexResponse:
        """Convex's answer for this one document (raises on a transport error)."""
        if not self.batching:
            return await self.http.post(write.path, write.body)
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
        max_docs, max_bytes = self.max_documents, self.max_bytes
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
                self._resolve_later(future, self.http.post(write.path, write.body))
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
            response = await self.http.post(BATCH_PATH, body, links or None)
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
                self._resolve_later(future, self.http.post(write.path, write.body))
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
