"""Throw-away X.509 material for the runtime's TLS tests (PEM files), as fixtures.

test_ca.issue(tmp_path / "server", "127.0.0.1")        # IP SAN for loopback
test_ca.issue(tmp_path / "client", "svc", key_password="s3cret")   # mTLS
"""

import asyncio
import datetime as dt
import ipaddress
import ssl
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    ApiVersionResponse_v1,
    SaslAuthenticateResponse_v0,
    SaslHandShakeResponse_v1,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    certfile: Path
    keyfile: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path, password: str | None) -> None:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )


@dataclass(frozen=True)
class TestCA:
    __test__ = False  # not a pytest test class

    certfile: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, directory: Path, common_name: str = "careers test CA") -> "TestCA":
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        certfile = directory / "ca.pem"
        certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(certfile, key, cert)

    def issue(self, directory: Path, name: str, *, key_password: str | None = None) -> Issued:
        """A leaf certificate for ``name`` (an IP address or a DNS name, also its SAN),
        usable as a server and as a client certificate."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            san = x509.DNSName(name)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        certfile, keyfile = directory / "cert.pem", directory / "key.pem"
        certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, keyfile, key_password)
        return Issued(certfile, keyfile)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A CA the clients do not trust."""
    return TestCA.create(tmp_path_factory.mktemp("other-ca"), "someone else's CA")


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


def server_tls(issued: Issued) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.certfile, issued.keyfile)
    return context
