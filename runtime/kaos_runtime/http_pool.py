"""A small pooled HTTP/1.1 client: keep-alive connections to one origin, httptools parsing.

The model API is the one endpoint every chat completion calls, once per loop step, so its
client is on the runtime's hot path. aiohttp and httpx cost 100-150 us of CPU per call
(request objects, cookie jars, tracing hooks, timers, pool bookkeeping); this client costs a
fraction of that (bench/runtime.py), and does only what the model API needs:

* one origin (`http` or `https`), `POST`/`GET` with a bytes body, fixed default headers;
* responses with `Content-Length`, chunked, or delimited by the connection closing,
  read whole (`read()`) or as they arrive (`chunks()`, `lines()`), with back-pressure;
* at most `max_connections` requests in flight (more wait for a free connection);
* keep-alive: a connection goes back to the pool only after its response was read to the
  end and the server did not ask to close; a pooled connection the server closed while
  idle is dropped, and a request that fails on a reused connection before any byte of the
  response arrived is sent once more on a new one (what browsers and urllib3 do);
* timeouts: `connect_timeout` to open a connection, `read_timeout` for each wait for
  data (headers or the next piece of the body), as aiohttp's `sock_read`.

No proxies, cookies, redirects or compression (the request sends no `Accept-Encoding`):
the model API is a Service in the cluster.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

__all__ = ["ConnectionFailed", "HTTPPool", "PooledResponse", "ProtocolFailed"]

_HIGH_WATER = 1 << 20  # pause reading when this much body is buffered and unread
_LOW_WATER = 1 << 16


class ConnectionFailed(ConnectionError):
    """The connection could not be opened, or was lost before the response ended."""


class ProtocolFailed(ConnectionError):
    """The server's answer was not valid HTTP/1.1."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being read from it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.error: Exception | None = None
        self.reused = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._start_response()

    def _start_response(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.keep_alive = False
        self.close_delimited = False
        self.complete = False
        self.received_any = False
        self.body: deque[bytes] = deque()
        self.buffered = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolFailed("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolFailed(f"invalid HTTP response: {exc}"))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        clean = exc is None and self.error is None
        if self.headers_done and not self.complete and self.close_delimited and clean:
            self.complete = True  # a body without length or chunks ends with the connection
        if not self.complete and self.error is None:
            detail = f": {exc}" if exc else ""
            self.error = ConnectionFailed(f"connection closed before the response ended{detail}")
        self._wake()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # only valid until the message ends
        self.close_delimited = not any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # helpers
    def _fail(self, error: Exception) -> None:
        self.error = error
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until something new happened (headers, body, end, error) or `timeout` passed."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            self.close()
            raise TimeoutError(f"no data from the server for {timeout}s") from None
        finally:
            if self._waiter is waiter:
                self._waiter = None

    def take_body(self) -> bytes:
        data = b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def take_piece(self) -> bytes:
        piece = self.body.popleft()
        self.buffered -= len(piece)
        if self._paused and self.buffered < _LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return piece

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and not self.lost
            and self.error is None
            and self.keep_alive
            and not self.body
        )

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()


class PooledResponse:
    """A response being read; release it (`async with`, or read it to the end)."""

    def __init__(self, pool: HTTPPool, conn: _Connection) -> None:
        self._pool = pool
        self._conn = conn
        self.status = conn.status
        self._released = False

    def header(self, name: str) -> str | None:
        key = name.lower().encode("latin-1")
        for k, v in self._conn.headers:
            if k == key:
                return v.decode("latin-1")
        return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body pieces as they arrive; the response is released at the end or on an error.

        A reader that stops early (`break`) releases it itself (`async with`, `drain`): an
        abandoned generator is finalised whenever the event loop gets to it, too late to
        decide the connection's fate.
        """
        conn = self._conn
        try:
            while True:
                if conn.body:
                    yield conn.take_piece()
                    continue
                if conn.complete:
                    break
                if conn.error is not None:
                    raise conn.error
                await conn.wait(self._pool.read_timeout)
        except Exception:
            self.release()
            raise
        self.release()

    async def lines(self) -> AsyncIterator[bytes]:
        """Body lines (without the line end) as they arrive: SSE events."""
        pending = b""
        async for piece in self.chunks():
            pending += piece
            if b"\n" not in piece:
                continue
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending:
            yield pending.rstrip(b"\r")

    async def read(self) -> bytes:
        conn = self._conn
        parts: list[bytes] = []
        try:
            while not conn.complete:
                if conn.error is not None:
                    raise conn.error
                parts.append(conn.take_body())  # keeps reading from being paused for good
                await conn.wait(self._pool.read_timeout)
            parts.append(conn.take_body())
            return b"".join(parts)
        finally:
            self.release()

    async def drain(self, timeout: float) -> None:
        """Discard the rest of the body, waiting at most `timeout` seconds, then release.

        For a reader that has what it needs (an SSE `[DONE]`) before the body's last bytes
        arrived: the connection can then go back to the pool instead of being closed.
        """
        conn = self._conn
        try:
            async with asyncio.timeout(timeout):
                while not conn.complete and conn.error is None:
                    conn.take_body()
                    await conn.wait(None)
        except TimeoutError:
            conn.close()
        finally:
            conn.take_body()
            self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._put_back(self._conn)

    async def __aenter__(self) -> PooledResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class HTTPPool:
    """Keep-alive HTTP/1.1 connections to the origin of `base_url`."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float | None = 120.0,
        max_idle: int = 64,
        max_connections: int = 512,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        default_port = self.port == (443 if self.tls else 80)
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if not default_port:
            host_header = f"{host_header}:{self.port}"
        fixed = {"Host": host_header, "User-Agent": "kaos-agent", **(headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_idle
        #: Requests in flight (each holds one connection); more wait for a free slot.
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> PooledResponse:
        """Send a request and wait for the response headers."""
        if self._closed:
            raise ConnectionFailed("the client is closed")
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n{self._fixed}"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        await self._slots.acquire()
        try:
            while True:
                conn = await self._connection()
                try:
                    return await self._exchange(conn, data)
                except ConnectionFailed:
                    # A kept-alive connection the server closed as we sent: the request
                    # never reached it, so send it again (on a fresh connection in the end).
                    if conn.reused and not conn.received_any:
                        continue
                    raise
        except BaseException:
            self._slots.release()
            raise

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> PooledResponse:
        return await self.request("POST", path, body, headers)

    async def _exchange(self, conn: _Connection, data: bytes) -> PooledResponse:
        assert conn.transport is not None
        conn.transport.write(data)
        try:
            while not conn.headers_done:
                if conn.error is not None:
                    raise conn.error
                await conn.wait(self.read_timeout)
        except BaseException:
            conn.close()
            raise
        return PooledResponse(self, conn)

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to be stale
            if not conn.lost:
                conn.reused = True
                return conn
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._tls_context(),
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            raise TimeoutError(
                f"could not connect to {self.host}:{self.port} within {self.connect_timeout}s"
            ) from None
        except OSError as exc:
            raise ConnectionFailed(
                f"could not connect to {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        return conn

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        if self._ssl is None:
            self._ssl = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
        return self._ssl

    def _put_back(self, conn: _Connection) -> None:
        if conn.reusable and not self._closed and len(self._idle) < self.max_idle:
            conn._start_response()
            self._idle.append(conn)
        else:
            conn.close()
        self._slots.release()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        scheme = "https" if self.tls else "http"
        return f"HTTPPool({scheme}://{self.host}:{self.port}{self.prefix}, idle={len(self._idle)})"
