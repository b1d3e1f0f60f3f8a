"""The default model client (`MODEL_CLIENT=direct`): the OpenAI request POSTed with aiohttp.

aiohttp is maintained, C-accelerated and gets HTTP/1.1 right where a model API, a LiteLLM
proxy or a mesh sidecar may bend it: 1xx responses skipped, gzip/deflate bodies decoded,
header values validated, a second response in one packet dropped with its connection. What
is kept cheap on the hot path: one `ClientSession` per process (its pool of keep-alive
connections), the body encoded once to bytes, no cookie jar, no per-call proxy lookup.

* Deadline: `MODEL_TIMEOUT_SECONDS` bounds the whole call (`ClientTimeout(total=...)`,
  what is left of it on a retry), so an upstream that trickles bytes cannot hold a request
  past it; opening a connection has its own bound (`MODEL_CONNECT_TIMEOUT_SECONDS`).
* Dead connections: sockets carry TCP keep-alive and `TCP_USER_TIMEOUT` set to the
  connect timeout, so a pooled connection whose peer vanished without a word (a node gone,
  a NAT entry expired) fails within that time instead of waiting out the deadline; a call
  whose reused connection the server closed is sent once more on a new one.
* Idle connections are closed after `MODEL_KEEPALIVE_SECONDS` (below the usual 5 s of
  uvicorn-based servers such as the LiteLLM proxy, so the client lets go first).
* Stray bytes: a pooled connection that received anything while idle (an extra or
  unsolicited response) is closed, never handed to the next call (see `_GuardedHandler`).
* Proxies: `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` are honoured as aiohttp's `trust_env`
  does, read once at start-up rather than on every call. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import socket
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.client_proto import ResponseHandler

from .model_answers import MAX_ANSWER_BYTES, StreamReader, status_error, turn_from_body
from .model_client import PLACEHOLDER_KEY, ModelError, ModelTurn, StreamItem, timeout_error
from .settings import Settings
from .stream_end import read_events

#: How much of an error body is read for the message.
_ERROR_BODY_BYTES = 64 * 1024
#: How long to wait for the end of a streamed body after `data: [DONE]` (to keep the
#: connection); the end is usually one packet behind.
_DRAIN_SECONDS = 1.0
#: Connections to the ModelAPI at once (more calls wait for one, within their deadline).
MAX_CONNECTIONS = 100
USER_AGENT = "kaos-agent"


class _GuardedHandler(ResponseHandler):
    """aiohttp's connection protocol, never reusable once it should close.

    aiohttp 3.14 hands a pooled connection to the next request after checking only that
    it is open. Bytes the server sent while the connection sat idle (an extra response, an
    unsolicited one) are parsed and queued on it, and the next request, another user's, then
    reads them as its own answer (aio-libs/aiohttp#13656). `should_close` is true when
    anything is queued, a body is unfinished or the server asked to close; such a
    connection is not reused.
    """

    def is_connected(self) -> bool:
        return super().is_connected() and not self.should_close


def _socket_factory(connect_timeout: float) -> Callable[[Any], socket.socket]:
    """Sockets that notice a vanished peer within about `connect_timeout`."""
    user_timeout_ms = max(1, int(connect_timeout * 1000))
    idle = max(1, math.ceil(connect_timeout))
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", max(1, math.ceil(connect_timeout / 3))),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", user_timeout_ms),  # Linux: unacknowledged data fails the socket
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))

    def make(addr_info: Any) -> socket.socket:
        family, type_, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=type_, proto=proto)
        for level, option, value in options:
            with contextlib.suppress(OSError):
                sock.setsockopt(level, option, value)
        return sock

    return make


def new_session(settings: Settings, headers: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """The session model calls go through (call in the running event loop)."""
    keepalive = settings.model_keepalive_seconds
    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS,
        keepalive_timeout=keepalive if keepalive > 0 else None,
        force_close=keepalive <= 0,
        socket_factory=_socket_factory(settings.model_connect_timeout_seconds),
    )
    if not hasattr(connector, "_factory"):  # pragma: no cover - guards an aiohttp change
        raise RuntimeError("aiohttp's TCPConnector changed: review _GuardedHandler")
    connector._factory = functools.partial(_GuardedHandler, loop=asyncio.get_running_loop())
    return aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        skip_auto_headers=("Accept-Encoding",),  # a compressing proxy buffers SSE
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,  # proxies: resolved once (env_proxy)
    )


def env_proxy(url: str) -> str | None:
    """The proxy `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` choose for `url` (None: go direct)."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def encode(request: dict[str, Any]) -> bytes:
    """The request body; a lone surrogate (`\\ud800` from a client, a tool or a peer is
    valid JSON, but not text UTF-8 can carry) goes as `?`, as the runtime's answers write it."""
    text = json.dumps(request, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "replace")


class DirectBackend:
    """POSTs to `<MODEL_API_URL>/v1/chat/completions` over one aiohttp session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.model_api_base + "/chat/completions"
        self.timeout = settings.model_timeout_seconds
        self.connect_timeout = settings.model_connect_timeout_seconds
        self.headers = {
            "Authorization": f"Bearer {settings.model_api_key or PLACEHOLDER_KEY}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "User-Agent": USER_AGENT,
        }
        self.proxy = env_proxy(self.url)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session(self.settings, self.headers)
        return self._session

    async def _post(self, body: bytes, timeout: float) -> aiohttp.ClientResponse:
        """The response (headers read); a stale pooled connection gets one immediate retry."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        session = self._client()
        retried = False
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise timeout_error(self.timeout)
            try:
                return await session.post(
                    self.url,
                    data=body,
                    timeout=aiohttp.ClientTimeout(total=left, sock_connect=self.connect_timeout),
                    allow_redirects=False,
                    proxy=self.proxy,
                )
            except aiohttp.ServerDisconnectedError:
                if retried:
                    raise
                retried = True  # the server closed a kept-alive connection as we sent on it

    async def complete(self, request: dict[str, Any], timeout: float) -> ModelTurn:
        try:
            response = await self._post(encode(request), timeout)
            try:
                if response.status != 200:
                    raise await _status_error(response)
                content_type = response.headers.get("Content-Type", "")
                if "text/event-stream" in content_type:  # streamed anyway: read as it comes
                    reader = StreamReader(content_type)
                    async for _ in read_events(response.content.readany, reader):
                        pass
                    if reader.done and not response.content.at_eof():
                        await _drain(response.content)
                    return reader.result()
                raw = await _read(response, MAX_ANSWER_BYTES)
            finally:
                response.release()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(exc, self.timeout, self.connect_timeout) from exc
        return turn_from_body(raw, content_type)

    async def stream(self, request: dict[str, Any], timeout: float) -> AsyncIterator[StreamItem]:
        try:
            response = await self._post(encode(request), timeout)
            try:
                if response.status != 200:
                    raise await _status_error(response)
                reader = StreamReader(response.headers.get("Content-Type", ""))
                content = response.content
                async for text in read_events(content.readany, reader):
                    yield text
                if reader.done and not content.at_eof():
                    await _drain(content)
                turn = reader.result()
            finally:
                response.release()  # closes the connection unless the body was read to its end
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(exc, self.timeout, self.connect_timeout) from exc
        if reader.whole_body and turn.content:
            yield turn.content
        yield turn

    async def warm_up(self) -> None:
        self._client()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refusing one over `limit` bytes."""
    pieces: list[bytes] = []
    size = 0
    while piece := await response.content.readany():
        size += len(piece)
        if size > limit:
            raise ModelError(f"model API answer exceeds {limit} bytes")
        pieces.append(piece)
    return b"".join(pieces)


async def _status_error(response: aiohttp.ClientResponse) -> ModelError:
    raw = b""
    with contextlib.suppress(ModelError, aiohttp.ClientError, OSError, TimeoutError):
        raw = await _read(response, _ERROR_BODY_BYTES)
    return status_error(response.status, raw, response.headers.get("Location"))


async def _drain(content: aiohttp.StreamReader) -> None:
    """Read the rest of a finished stream, so that its connection can be reused."""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ModelError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while await content.readany():
                pass


def connect_timeout_error(seconds: float) -> ModelError:
    return ModelError(
        f"model API connection not established within {seconds:g}s (MODEL_CONNECT_TIMEOUT_SECONDS)",
        status=504,
        transient=True,
    )


def transport_error(exc: BaseException, timeout: float, connect_timeout: float) -> ModelError:
    """An aiohttp failure as the error the caller gets (`timeout`s for the message)."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return connect_timeout_error(connect_timeout)
    if isinstance(exc, TimeoutError):
        return timeout_error(timeout)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ModelError(f"model API unreachable: {exc}", transient=True)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ModelError("model API closed the connection without an answer", transient=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ModelError(f"model API answer broke off: {_cause(exc)}", transient=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ModelError(f"model API sent an invalid HTTP response: {exc.message}")
    if isinstance(exc, aiohttp.InvalidURL):
        return ModelError(f"model API URL is invalid: {exc}")
    return ModelError(f"model API connection failed: {_cause(exc)}", transient=True)


def _cause(exc: BaseException) -> str:
    """The most specific message: aiohttp wraps a parser error's own in a generic one."""
    cause = exc.__cause__
    message = getattr(cause, "message", None)
    if isinstance(message, str) and message:
        return message
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text
