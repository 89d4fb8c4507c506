"""One HTTP session to Convex's HTTP actions (aiohttp: pooled, with timeouts) and one POST.

aiohttp rather than httpx: on the reference machine a pooled POST costs a fraction of the
CPU of httpx's, even over aiohttp's transport (``docs/benchmarks.md``, convex-sync).
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from opentelemetry import trace

from convex_sync import metrics
from convex_sync.settings import ConvexSyncSettings

tracer = trace.get_tracer("careers.convex")

SECRET_HEADER = "X-Convex-Sync-Secret"  # noqa: S105 - a header name, not a secret
MAX_ERROR_BODY = 2000


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


class ConvexHttp:
    """The connection pool (opened on start-up, closed after the consumers drained)."""

    def __init__(self, settings: ConvexSyncSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

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
            raise RuntimeError("ConvexHttp.start() was not called")
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
