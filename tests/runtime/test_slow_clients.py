"""Clients that send slowly or too much: a request is read within bounds, then refused.

Raw sockets stand in for the clients (a slowloris sends a header byte now and then); the
runtime has AGENT_REQUEST_READ_TIMEOUT_SECONDS=1.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from support.runtime_harness import InProcessRuntime

READ_TIMEOUT = 1.0


@pytest.fixture
def rt(model, start_runtime) -> Iterator[InProcessRuntime]:
    from support.scripted_model import Reply

    model.default = Reply.text("fine")
    yield start_runtime(model.url, AGENT_REQUEST_READ_TIMEOUT_SECONDS=READ_TIMEOUT)


def connect(rt: InProcessRuntime) -> socket.socket:
    return socket.create_connection(("127.0.0.1", rt.port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def trickle(sock: socket.socket, data: bytes, every: float = 0.2) -> None:
    """Send `data` a byte at a time until the server closes the connection."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return
        time.sleep(every)


def assert_still_serving(rt: InProcessRuntime) -> None:
    response = httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "q"}]},
        timeout=10,
    )
    assert response.status_code == 200


def test_headers_that_trickle_in_get_a_408_and_the_connection_closed(rt):
    sock = connect(rt)
    started = time.monotonic()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: agent\r\n")
    sender = threading.Thread(target=trickle, args=(sock, b"X-Slow: " + b"a" * 100), daemon=True)
    sender.start()
    raw = read_all(sock)
    elapsed = time.monotonic() - started
    status, body = status_and_body(raw)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert "AGENT_REQUEST_READ_TIMEOUT_SECONDS" in body["error"]["message"]
    assert READ_TIMEOUT - 0.1 < elapsed < READ_TIMEOUT + 1.5
    sock.close()
    assert_still_serving(rt)


def test_a_body_that_trickles_in_gets_a_408(rt):
    body = json.dumps({"messages": [{"role": "user", "content": "q" * 200}]}).encode()
    sock = connect(rt)
    started = time.monotonic()
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: agent\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    threading.Thread(target=trickle, args=(sock, body), daemon=True).start()
    raw = read_all(sock)
    elapsed = time.monotonic() - started
    status, error = status_and_body(raw)
    assert status == 408
    assert error["error"]["code"] == "request_timeout"
    assert "request body did not arrive within 1s" in error["error"]["message"]
    assert elapsed < READ_TIMEOUT + 1.5
    sock.close()
    assert_still_serving(rt)


def test_a_client_still_sending_when_refused_reads_its_answer(rt):
    """The 408 is sent while the client is still sending its body. Closing at once would
    make the kernel answer the client's next bytes with a reset, which destroys the answer
    the client has not read yet: the close lingers instead (half-close, drop what comes)."""
    body = json.dumps({"messages": [{"role": "user", "content": "q" * 200}]}).encode()
    sock = connect(rt)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: agent\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    sock.sendall(body[:10])
    time.sleep(READ_TIMEOUT + 0.5)  # the server has answered 408 and closed by now
    with contextlib.suppress(OSError):
        sock.sendall(body[10:100])  # the client, unaware, sends more before reading
    time.sleep(0.3)  # a reset, if any, has arrived
    status, error = status_and_body(read_all(sock))
    assert status == 408
    assert error["error"]["code"] == "request_timeout"
    sock.close()
    assert_still_serving(rt)


def test_a_connection_that_says_nothing_is_closed(rt):
    sock = connect(rt)
    started = time.monotonic()
    assert read_all(sock) == b""  # closed, nothing to answer
    assert time.monotonic() - started < READ_TIMEOUT + 1.5
    sock.close()


def test_the_next_request_on_a_kept_alive_connection_is_bounded_too(rt):
    sock = connect(rt)
    body = json.dumps({"messages": [{"role": "user", "content": "q"}]}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: agent\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    sock.sendall(request)
    first = b""
    while b'"fine"' not in first:
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    time.sleep(READ_TIMEOUT * 1.5)  # idle between requests: the keep-alive timeout's business
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")  # ... and then nothing more
    started = time.monotonic()
    raw = read_all(sock)
    assert raw.startswith(b"HTTP/1.1 408")  # (uvicorn's keep-alive timeout is 5 s)
    assert time.monotonic() - started < READ_TIMEOUT + 1.5
    sock.close()


def test_headers_over_64_kib_get_a_431(rt):
    sock = connect(rt)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: agent\r\n")
        for _ in range(80):
            sock.sendall(b"X-Padding: " + b"p" * 1000 + b"\r\n")
    except OSError:
        pass  # the server may close while we still send
    raw = read_all(sock)
    assert raw.startswith(b"HTTP/1.1 431")
    sock.close()
    assert_still_serving(rt)
