"""The MCP tool server against a client that trickles its request headers (slowloris).

Each such connection held a socket and a file descriptor for as long as the client
liked: enough of them and the server answers nobody. The headers must arrive within
MCP_REQUEST_READ_TIMEOUT_SECONDS, else the server answers 408 and closes; a real client
is served meanwhile and afterwards. On a real subprocess, as the image runs it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from support.mcp_server import INITIALIZE, MCP_HEADERS, mcp_tool_server
from support.process import Server

TOOLS = "def add(a: int, b: int) -> int:\n    return a + b\n"
READ_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"MCP_HOST": "127.0.0.1", "MCP_REQUEST_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT)}
    with mcp_tool_server(tmp_path_factory.mktemp("slow"), tools=TOOLS, env=env) as running:
        yield running


def _trickle(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """Send a header line every 0.2 s for up to `seconds`; what the server answered, and
    when it closed the connection (seconds after the first byte)."""
    started = time.monotonic()
    sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    sock.settimeout(0.2)
    answer = b""
    while time.monotonic() - started < seconds:
        try:
            sock.sendall(b"X-Slow: x\r\n")
        except OSError:
            break
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not piece:
            break
        answer += piece
    return answer, time.monotonic() - started


def test_a_client_trickling_its_headers_is_cut_off(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        answer, closed_after = _trickle(sock, 10)
    assert closed_after < READ_TIMEOUT + 2, "the server waited for the headers as long as they came"
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    ok = httpx.post(f"{server.url}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=10)
    assert ok.status_code == 200
