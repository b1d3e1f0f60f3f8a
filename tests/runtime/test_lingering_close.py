"""The runtime's lingering close (runtime/kaos_runtime/server.py) when the client has
already reset the connection: a plain close, never an exception in the ASGI app (uvicorn
logged it as a traceback for a client that left as its answer was sent)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest
from kaos_runtime.server import LingeringTransport

pytestmark = pytest.mark.asyncio


async def test_closing_after_the_client_reset_the_connection_does_not_raise() -> None:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    transport = await asyncio.wait_for(accepted, 5)
    lingering = LingeringTransport(transport, loop)
    lingering.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")  # the answer, sent
    # The client leaves with a reset (SO_LINGER 0); the loop has not seen it yet.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    time.sleep(0.1)
    lingering.close()  # raised OSError: [Errno 107] Transport endpoint is not connected
    await asyncio.sleep(0)
    assert transport.is_closing()
    assert lingering._timer is None  # nothing left to linger for
    server.close()
    await server.wait_closed()
