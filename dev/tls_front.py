"""HTTPS in front of a plain local endpoint (moto), with a throwaway CA made at run time: so that a
function's cold start pays a real TLS handshake, as it does against AWS (dev/bench_cold.py).

The functions trust the CA through `SSL_CERT_FILE`, the standard setting the AWS SDK's HTTPS client
reads (aws-smithy-http-client loads its roots with rustls-native-certs, which reads the PEM file
`SSL_CERT_FILE` names instead of the system store). The file holds the system's roots too, so the
cold start parses as many certificates as on Lambda. Each service the functions call gets its own
port, as each AWS service has its own host: one connection and one handshake per service.

The front keeps the functions' connections alive as AWS does, although moto does not: werkzeug's
server answers every request with `Connection: close`. So the front reads one request at a time
from the function's connection, sends it to moto on a fresh loopback connection, and hands back
moto's response without that header. Without this, every call would reconnect and resume TLS, and
a connection opened during init would be gone by the first request.

`latency` (seconds, settable while it runs) holds every request that long before it goes to moto:
an AWS-like round trip (a few milliseconds in-region, where moto answers in about one), so that a
benchmark sees how many calls a request waits on one after the other (issue 22). Handshakes are
not delayed: the latency is per call.
"""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SYSTEM_ROOTS = Path("/etc/ssl/certs/ca-certificates.crt")
# The SDK's per-service endpoint settings; AWS_ENDPOINT_URL covers the rest (SQS, S3 Vectors).
SERVICE_SETTINGS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL")


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
                 ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class TlsFront:
    """One TLS port per service, each forwarding bytes to `backend_port` on loopback. RSA-2048 keys,
    like AWS's endpoints' certificates."""

    def __init__(self, backend_port: int, latency: float = 0.0):
        self.latency = latency
        self.dir = tempfile.TemporaryDirectory(prefix="bench-tls-")
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench throwaway CA")])
        ca = _certificate("bench throwaway CA", ca_key, ca_name, ca_key, ca=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = _certificate("127.0.0.1", key, ca_name, ca_key, ca=False)
        folder = Path(self.dir.name)
        (folder / "server.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        (folder / "server.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        system = SYSTEM_ROOTS.read_bytes() if SYSTEM_ROOTS.exists() else b""
        self.ca_bundle = folder / "ca-bundle.pem"
        self.ca_bundle.write_bytes(system + ca.public_bytes(serialization.Encoding.PEM))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(folder / "server.pem", folder / "server.key")
        self.backend_port = backend_port
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.servers: list[asyncio.Server] = []
        self.connections = 0  # handshakes completed, every port together
        self.ports = [asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10) for _ in SERVICE_SETTINGS]

    async def _listen(self) -> int:
        server = await asyncio.start_server(self._forward, "127.0.0.1", 0, ssl=self.context)
        self.servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        for server in self.servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _forward(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await client_in.readuntil(b"\r\n\r\n")
                request = head + await client_in.readexactly(_content_length(head) or 0)
                if self.latency:
                    await asyncio.sleep(self.latency)
                backend_in, backend_out = await asyncio.open_connection("127.0.0.1", self.backend_port)
                try:
                    backend_out.write(request)
                    await backend_out.drain()
                    response = await _response(backend_in)
                finally:
                    backend_out.close()
                response, framed = _kept_alive(response)
                client_out.write(response)
                await client_out.drain()
                if not framed:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, ssl.SSLError,
                asyncio.CancelledError):
            pass  # the function closed its connection (or was killed), or the front is closing
        finally:
            client_out.close()

    def env(self) -> dict[str, str]:
        """The settings that point a function at this front and make it trust the CA."""
        urls = {name: f"https://127.0.0.1:{port}" for name, port in zip(SERVICE_SETTINGS, self.ports)}
        return {**urls, "SSL_CERT_FILE": str(self.ca_bundle)}

    def untrusted_env(self) -> dict[str, str]:
        """The same endpoints with only the system's roots: every call must fail (the check that the
        functions really verify the certificate, and really read SSL_CERT_FILE)."""
        return {**self.env(), "SSL_CERT_FILE": str(SYSTEM_ROOTS)}

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.dir.cleanup()


def _header_names(head: bytes) -> list[bytes]:
    """The header names of a request's or response's head, lower-cased, in order."""
    return [line.partition(b":")[0].strip().lower() for line in head.split(b"\r\n")[1:]]


def _content_length(head: bytes) -> int | None:
    """The body length a head announces, if it does (the SDK sends every request body of these
    services with one)."""
    for name, line in zip(_header_names(head), head.split(b"\r\n")[1:]):
        if name == b"content-length":
            return int(line.partition(b":")[2])
    return None


async def _response(backend: asyncio.StreamReader) -> bytes:
    """moto's answer: to its Content-Length when it gives one, else to the end of the connection
    (moto closes it after every answer, but waiting for that costs milliseconds)."""
    head = await backend.readuntil(b"\r\n\r\n")
    length = _content_length(head)
    return head + (await backend.read() if length is None else await backend.readexactly(length))


def _kept_alive(response: bytes) -> tuple[bytes, bool]:
    """moto's `response` without its `Connection: close`, and whether the client can tell where it
    ends without the connection closing (Content-Length or chunked): if not, it keeps the header."""
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    names = _header_names(head)
    framed = b"content-length" in names or b"transfer-encoding" in names or status.split(b" ")[1] in (b"204", b"304")
    if framed:
        lines = [line for name, line in zip(names, lines) if name != b"connection"]
    return b"\r\n".join([status, *lines]) + b"\r\n\r\n" + body, framed
