"""The model API's HTTP/1.1 client (`kaos_runtime.http_pool`) against raw loopback servers.

Each server here is a few lines of asyncio that write exact bytes, so every framing
(Content-Length, chunked, closed-delimited), keep-alive decision and failure is the real
thing on a real socket. One test runs TLS with a certificate made for it.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from kaos_runtime.http_pool import ConnectionFailed, HTTPPool, ProtocolFailed

pytestmark = pytest.mark.asyncio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One request: (request line, lower-cased headers, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in fields:
        if field:
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line, headers, body


class RawServer:
    """A loopback server calling `handler(reader, writer, request_number)` per request.

    The handler returns True to keep the connection for another request.
    """

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    self.requests.append(await read_request(reader))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if not await self.handler(reader, writer, len(self.requests)):
                    return
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()


def json_reply(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_keeps_connections_alive_and_sends_the_request_it_was_given():
    async def handler(reader, writer, n):
        writer.write(json_reply(b'{"n":%d}' % n))
        await writer.drain()
        return True

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}/v1", {"Authorization": "Bearer k"})
        bodies = []
        for _ in range(5):
            async with await pool.post("/chat/completions", b'{"a":1}') as response:
                assert response.status == 200
                assert response.header("content-type") == "application/json"
                bodies.append(await response.read())
        await pool.close()
    assert bodies == [b'{"n":%d}' % n for n in range(1, 6)]
    assert server.connections == 1, "five sequential requests should share one connection"
    line, headers, body = server.requests[0]
    assert line == "POST /v1/chat/completions HTTP/1.1"
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["authorization"] == "Bearer k"
    assert headers["content-length"] == "7"
    assert "accept-encoding" not in headers  # never asks for a compressed answer
    assert body == b'{"a":1}'


async def test_concurrent_requests_open_connections_and_reuse_them():
    async def handler(reader, writer, n):
        await asyncio.sleep(0.01)
        writer.write(json_reply())
        await writer.drain()
        return True

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)

        async def one() -> bytes:
            response = await pool.post("/x", b"{}")
            return await response.read()

        for _ in range(3):
            assert await asyncio.gather(*(one() for _ in range(8))) == [b'{"ok":true}'] * 8
        await pool.close()
    assert server.connections == 8
    assert len(server.requests) == 24


async def test_requests_over_the_connection_limit_wait_for_a_free_connection():
    in_flight = peak = 0

    async def handler(reader, writer, n):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        writer.write(json_reply())
        await writer.drain()
        return True

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5, max_connections=2)

        async def one() -> bytes:
            async with await pool.post("/x", b"{}") as response:
                return await response.read()

        assert await asyncio.gather(*(one() for _ in range(10))) == [b'{"ok":true}'] * 10
        await pool.close()
    assert (server.connections, peak) == (2, 2)


async def test_chunked_body_is_streamed_as_it_arrives_and_split_into_lines():
    release = asyncio.Event()

    async def handler(reader, writer, n):
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        first = b'data: {"a": 1}\r\n\r\n'  # one whole event
        writer.write(b"%x\r\n%s\r\n" % (len(first), first))
        await writer.drain()
        await release.wait()  # the client must see the first event before the rest exists
        for piece in (b'data: {"b"', b": 2}\n\ndata: [DONE]\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        response = await pool.post("/stream", b"{}")
        lines = []
        async for line in response.lines():
            lines.append(line)
            if line == b'data: {"a": 1}':
                release.set()
        # the connection went back to the pool: the next request reuses it
        again = await pool.post("/stream", b"{}")
        release.set()
        assert (await again.read()).startswith(b'data: {"a": 1}')
        await pool.close()
    assert lines == [b'data: {"a": 1}', b"", b'data: {"b": 2}', b"", b"data: [DONE]", b""]
    assert server.connections == 1


@pytest.mark.parametrize("end_after, reused", [(0.05, True), (None, False)])
async def test_drain_keeps_the_connection_when_the_body_ends_soon_and_closes_it_otherwise(
    end_after, reused
):
    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"e\r\ndata: [DONE]\n\n\r\n")
        await writer.drain()
        if end_after is None:
            await asyncio.sleep(1)  # the body never ends in time
            return False
        await asyncio.sleep(end_after)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        for _ in range(2):
            async with await pool.post("/stream", b"{}") as response:
                async for line in response.lines():
                    if line == b"data: [DONE]":
                        break
                await response.drain(0.3)
        await pool.close()
    assert server.connections == (1 if reused else 2)


async def test_body_delimited_by_close_and_connection_close_are_honoured():
    async def handler(reader, writer, n):
        if n == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        else:
            writer.write(json_reply(extra="Connection: close\r\n"))
        await writer.drain()
        return False

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        assert await (await pool.post("/a", b"")).read() == b"until the end"
        assert await (await pool.post("/b", b"")).read() == b'{"ok":true}'
        await pool.close()
    assert server.connections == 2


async def test_a_pooled_connection_the_server_closed_is_replaced_transparently():
    async def handler(reader, writer, n):
        writer.write(json_reply())
        await writer.drain()
        return False  # keep-alive announced, but the server closes right after: a stale socket

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        assert await (await pool.post("/a", b"")).read() == b'{"ok":true}'
        await asyncio.sleep(0.05)  # the close reaches the pooled connection
        assert await (await pool.post("/b", b"")).read() == b'{"ok":true}'
        await pool.close()
    assert server.connections == 2


async def test_the_server_dropping_the_connection_mid_body_is_a_connection_failure():
    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        return False

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        response = await pool.post("/a", b"")
        with pytest.raises(ConnectionFailed, match="before the response ended"):
            await response.read()
        assert not pool._idle, "a broken connection must not go back to the pool"


async def test_invalid_http_is_a_protocol_failure():
    async def handler(reader, writer, n):
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        return False

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        with pytest.raises(ProtocolFailed, match="invalid HTTP response"):
            await pool.post("/a", b"")


async def test_read_timeout_applies_to_each_wait_for_data():
    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(2)  # then nothing more
        return False

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=0.2)
        response = await pool.post("/a", b"")
        pieces = []
        with pytest.raises(TimeoutError, match=r"no data from the server for 0\.2s"):
            async for piece in response.chunks():
                pieces.append(piece)
        assert pieces == [b"abc"]


async def test_a_refused_connection_names_the_address():
    server = RawServer(lambda *a: asyncio.sleep(0, True))
    async with server.running() as port:
        pass  # closed again: nothing listens on the port now
    pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
    with pytest.raises(ConnectionFailed, match=f"could not connect to 127.0.0.1:{port}"):
        await pool.post("/a", b"")


async def test_a_large_streamed_body_arrives_whole_with_reading_paused_in_between():
    size = 6 * 1024 * 1024  # well over the pool's buffering limit

    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()
        return True

    server = RawServer(handler)
    async with server.running() as port:
        pool = HTTPPool(f"http://127.0.0.1:{port}", read_timeout=5)
        response = await pool.post("/big", b"")
        await asyncio.sleep(0.3)  # let the server fill the client's buffer
        assert response._conn.buffered <= 2 * 1024 * 1024, "reading should have been paused"
        total = 0
        async for piece in response.chunks():
            total += len(piece)
        assert total == size
        assert len(await (await pool.post("/big", b"")).read()) == size  # read() too
        await pool.close()


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (what a private CA gives a model server)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "model-api")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_verifies_the_server_against_ssl_cert_file(tmp_path, monkeypatch):
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handler(reader, writer, n):
        writer.write(json_reply())
        await writer.drain()
        return True

    server = RawServer(handler, ssl_context=context)
    async with server.running() as port:
        untrusting = HTTPPool(f"https://127.0.0.1:{port}/v1", read_timeout=5)
        with pytest.raises(ConnectionFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await untrusting.post("/chat/completions", b"{}")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        pool = HTTPPool(f"https://127.0.0.1:{port}/v1", read_timeout=5)
        for _ in range(2):
            assert await (await pool.post("/chat/completions", b"{}")).read() == b'{"ok":true}'
        await pool.close()
    assert server.requests[-1][0] == "POST /v1/chat/completions HTTP/1.1"
    assert server.connections == 1  # the failed handshake never got that far; then one, kept


async def test_only_http_urls_are_accepted():
    with pytest.raises(ValueError, match="not an http"):
        HTTPPool("ftp://model-api")
