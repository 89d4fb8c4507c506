"""A stand-in Kafka that refuses every login, for tests of what clients do then.

with FakeKafka() as broker:                   # SASL_PLAINTEXT on broker.bootstrap
    ...
with FakeKafka(server_ssl_context) as broker:  # TLS first (SSL, SASL_SSL)
    ...
"""

import asyncio
import ssl
import struct
import threading

from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    ApiVersionResponse_v1,
    SaslAuthenticateResponse_v0,
    SaslHandShakeResponse_v1,
)


class FakeKafka(threading.Thread):
    """Just enough of a Kafka broker to refuse a login: answers ApiVersions and
    SaslHandshake, then fails every SaslAuthenticate with SASL_AUTHENTICATION_FAILED (58),
    as Apache Kafka does for a wrong password. With ``ssl_context`` it speaks TLS first."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(daemon=True)
        self.ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.port = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.started.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())

    def __enter__(self) -> "FakeKafka":
        self.start()
        self.started.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(5)

    @staticmethod
    def _answer(api_key: int, version: int) -> bytes | None:
        if api_key == 18:  # ApiVersions
            versions = [(18, 0, 2), (17, 0, 1), (36, 0, 0)]
            if version == 0:
                return ApiVersionResponse_v0(error_code=0, api_versions=versions).encode()  # type: ignore[no-any-return]
            return ApiVersionResponse_v1(  # type: ignore[no-any-return]
                error_code=0, api_versions=versions, throttle_time_ms=0
            ).encode()
        if api_key == 17:  # SaslHandshake
            return SaslHandShakeResponse_v1(  # type: ignore[no-any-return]
                error_code=0, enabled_mechanisms=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
            ).encode()
        if api_key == 36:  # SaslAuthenticate
            return SaslAuthenticateResponse_v0(  # type: ignore[no-any-return]
                error_code=58,
                error_message="Authentication failed during authentication due to invalid "
                "credentials with SASL mechanism SCRAM-SHA-512",
                sasl_auth_bytes=b"",
            ).encode()
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                request = await reader.readexactly(size)
                api_key, version, correlation = struct.unpack(">hhi", request[:8])
                body = self._answer(api_key, version)
                if body is None:
                    break
                payload = struct.pack(">i", correlation) + body
                writer.write(struct.pack(">i", len(payload)) + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
