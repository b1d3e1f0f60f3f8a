"""How the agent app is served: uvicorn, with a bound on how slowly a client may send.

uvicorn waits as long as a client likes for a request's headers (only an idle keep-alive
connection is timed out), so a client trickling bytes holds a connection and its memory
forever. `bounded_protocol` adds the missing bounds to uvicorn's httptools protocol: the
headers of a request must be complete within `AGENT_REQUEST_READ_TIMEOUT_SECONDS` of its
first byte (of the connection opening, for the first request) and within
`MAX_HEADER_BYTES`; otherwise 408 (or 431) and the connection is closed. The body is bounded
the same way where it is read (`app.read_body`).

Closing is lingering, as nginx and Apache do it: when the runtime closes a connection whose
client may still be sending (a 408 mid-body, a 413), closing at once makes the kernel answer
the client's next bytes with a reset, which destroys the error response the client has not
read yet. The connection is half-closed instead (the answer, then FIN), the client's bytes
are read and dropped for up to `LINGER_SECONDS`, then it is closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn

from .openai_api import dumps, error_body
from .settings import Settings

log = logging.getLogger(__name__)

#: The most request-line and header bytes a request may carry.
MAX_HEADER_BYTES = 64 * 1024
#: How long a closed connection still reads (and drops) what its client sends, and how much.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 1024 * 1024


class LingeringTransport:
    """A transport whose `close()` half-closes and lingers (see the module docstring).

    Everything else is the wrapped transport's; `lingering` tells the protocol to drop
    what arrives instead of parsing it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        #: Called for every chunk of every response: bound once, not found by `__getattr__`.
        self.write = transport.write
        self._timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self.dropped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self.lingering = True
        try:
            self._transport.write_eof()  # after what is buffered: the answer arrives whole
        except OSError:  # the client reset the connection before the loop saw it: nothing to send
            self._transport.close()
            return
        self._timer = self._loop.call_later(LINGER_SECONDS, self.abort_lingering)

    def drop(self, data: bytes) -> None:
        self.dropped += len(data)
        if self.dropped > LINGER_MAX_BYTES:
            self.abort_lingering()

    def abort_lingering(self) -> None:
        self.cancel_timer()
        self._transport.close()

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _error_response(status: int, reason: str, message: str, code: str) -> bytes:
    body = dumps(error_body(message, "invalid_request_error", code))
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def bounded_protocol(read_timeout: float, max_header_bytes: int = MAX_HEADER_BYTES) -> Any:
    """uvicorn's httptools protocol with a deadline and a size bound on request headers.

    Returns None when httptools is not installed (uvicorn then serves with h11, unbounded).
    """
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a runtime dependency
        return None

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _awaiting_headers = True
        _header_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._lingering = LingeringTransport(transport, self.loop)
            super().connection_made(self._lingering)  # type: ignore[arg-type]
            self._arm()

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(read_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def data_received(self, data: bytes) -> None:
            if self._lingering.lingering:
                self._lingering.drop(data)  # answered and closing: read, never parse
                return
            if self._awaiting_headers:
                if self._header_timer is None:
                    self._arm()  # the first bytes of the next request on this connection
                self._header_bytes += len(data)
            super().data_received(data)
            if self._awaiting_headers and self._header_bytes > max_header_bytes:
                self._refuse(
                    431,
                    "Request Header Fields Too Large",
                    f"request headers exceed {max_header_bytes} bytes",
                    "headers_too_large",
                )

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._header_bytes = 0
            self._disarm()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._awaiting_headers = True

        def eof_received(self) -> bool | None:
            if self._lingering.lingering:  # the client is done too: close now
                self._lingering.abort_lingering()
                return None
            return super().eof_received()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._lingering.cancel_timer()
            super().connection_lost(exc)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport is None or self.transport.is_closing():
                return
            if self._header_bytes == 0:
                self.transport.close()  # nothing was asked: just let go of the connection
                return
            self._refuse(
                408,
                "Request Timeout",
                f"request headers did not arrive within {read_timeout:g}s "
                "(AGENT_REQUEST_READ_TIMEOUT_SECONDS)",
                "request_timeout",
            )

        def _refuse(self, status: int, reason: str, message: str, code: str) -> None:
            self._disarm()
            self._awaiting_headers = False
            if self.transport is not None and not self.transport.is_closing():
                log.info("refused a request from %s: %s", self.client, message)
                self.transport.write(_error_response(status, reason, message, code))
                self.transport.close()

    return BoundedHttpToolsProtocol


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The server settings of the image (`python -m kaos_runtime`), also used by the tests."""
    options: dict[str, Any] = {
        "host": settings.agent_host,
        "port": settings.agent_port,
        "log_level": settings.log_level.lower(),
        "access_log": settings.log_level == "DEBUG",
        "log_config": None,
        "server_header": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
    }
    protocol = bounded_protocol(settings.agent_request_read_timeout_seconds)
    if protocol is not None:
        options["http"] = protocol
    options.update(overrides)
    return uvicorn.Config(app, **options)
