"""How the model clients use the network: timeouts, kept-alive connections, proxies, the key.

Each test runs the runtime in front of a raw loopback upstream (`support.raw_upstream`) on
both model clients, unless the behaviour belongs to one of them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from kaos_runtime.model_direct import _socket_factory
from support.raw_upstream import Connection, RawUpstream, Request
from support.runtime_harness import InProcessRuntime, agent_env, openai_client

CLIENTS = ["direct", "litellm"]


def chat(rt: InProcessRuntime, content: str = "echo hi") -> httpx.Response:
    return httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": content}]},
        timeout=30,
        trust_env=False,  # the test's own requests never go through a proxy set here
    )


@pytest.fixture
def upstream() -> Iterator[RawUpstream]:
    with RawUpstream() as server:
        yield server


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port whose accept queue is full: connecting to it hangs (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for sock in [*fillers, server]:
        sock.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_connecting_has_its_own_timeout_within_the_call_deadline(
    client, start_runtime, unaccepting_port
):
    rt = start_runtime(
        f"http://127.0.0.1:{unaccepting_port}",
        MODEL_CLIENT=client,
        MODEL_CONNECT_TIMEOUT_SECONDS=0.5,
        MODEL_TIMEOUT_SECONDS=30,
        MODEL_MAX_RETRIES=0,
    )
    started = time.monotonic()
    response = chat(rt)
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "model_timeout"
    assert "not established within 0.5s (MODEL_CONNECT_TIMEOUT_SECONDS)" in error["message"]
    assert time.monotonic() - started < 5  # the connect timeout, not the 30 s deadline


def test_the_deadline_covers_retries_too(start_runtime):
    """A 503 (retried) and then a server that never answers: 504 at the deadline."""
    attempts = []

    async def flaky(conn: Connection, req: Request) -> bool:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            await conn.send(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
            return True
        return await conn.hold()

    with RawUpstream(faults={"flaky": flaky}) as upstream:
        rt = start_runtime(upstream.url, MODEL_TIMEOUT_SECONDS=1.5, MODEL_MAX_RETRIES=5)
        started = time.monotonic()
        response = chat(rt, "fault:flaky")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert len(attempts) == 2
    assert elapsed < 3.0  # 1.5 s for the whole call, the retry included


@pytest.mark.parametrize("client", CLIENTS)
def test_idle_connections_are_closed_after_model_keepalive_seconds(client, start_runtime, upstream):
    rt = start_runtime(upstream.url, MODEL_CLIENT=client, MODEL_KEEPALIVE_SECONDS=0.3)
    for _ in range(3):
        assert chat(rt).status_code == 200
    assert upstream.connections == 1  # back to back: one kept-alive connection
    time.sleep(1.0)
    assert chat(rt).status_code == 200
    assert upstream.connections == 2  # the idle one was let go


def test_a_kept_alive_connection_the_server_closed_is_replaced_at_once(start_runtime, upstream):
    """The server drops a pooled connection as the next call arrives on it (its keep-alive
    timeout ended): the call is sent again on a new connection, no retry wait, no error."""
    rt = start_runtime(upstream.url, MODEL_MAX_RETRIES=0)
    assert chat(rt, "fault:close-reused first").json()["choices"][0]["message"]["content"] == (
        "first"
    )
    started = time.monotonic()
    second = chat(rt, "fault:close-reused second")
    assert second.status_code == 200, second.text
    assert second.json()["choices"][0]["message"]["content"] == "second"
    assert time.monotonic() - started < 0.5
    assert upstream.connections == 2


@pytest.mark.parametrize("client", CLIENTS)
def test_model_calls_go_through_the_proxy_the_environment_names(
    client, start_runtime, upstream, monkeypatch
):
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    rt = start_runtime("http://model-api.invalid:8000", MODEL_CLIENT=client)
    response = chat(rt, "echo through the proxy")
    assert response.json()["choices"][0]["message"]["content"] == "echo through the proxy"
    # A proxy gets the absolute URL; the host is never resolved by the runtime.
    assert upstream.requests[-1].line == (
        "POST http://model-api.invalid:8000/v1/chat/completions HTTP/1.1"
    )

    monkeypatch.setenv("NO_PROXY", "model-api.invalid")
    direct = start_runtime("http://model-api.invalid:8000", MODEL_CLIENT=client)
    assert chat(direct).status_code == 502  # NO_PROXY: the name is resolved, and fails
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_a_key_from_a_file_is_sent_without_its_newline(client, upstream, caplog):
    caplog.set_level(logging.WARNING)
    env = agent_env(upstream.url, MODEL_CLIENT=client)
    env["MODEL_API_KEY"] = "sk-from-a-file\n"
    with InProcessRuntime(env) as rt:
        result = openai_client(rt.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "echo key"}]
        )
    assert result.choices[0].message.content == "echo key"
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-from-a-file"
    warnings = [r.getMessage() for r in caplog.records if "MODEL_API_KEY" in r.getMessage()]
    assert warnings == [
        "MODEL_API_KEY: surrounding whitespace removed (a Secret made from a file often "
        "ends with a newline)"
    ]
    assert all("sk-from-a-file" not in r.getMessage() for r in caplog.records)


def test_sockets_notice_a_vanished_peer_within_the_connect_timeout():
    """TCP keep-alive probes and TCP_USER_TIMEOUT: a pooled connection whose peer is gone
    without a word fails within about MODEL_CONNECT_TIMEOUT_SECONDS, not at the deadline."""
    family, kind, proto, _, address = socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)[
        0
    ]
    sock = _socket_factory(2.5)((family, kind, proto, "", address))
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 3
    finally:
        sock.close()


def test_a_stream_answered_after_done_keeps_its_connection(start_runtime, upstream):
    """The end of a stream's body, a packet after `data: [DONE]`, is waited for: the
    connection goes back to the pool instead of being closed."""
    rt = start_runtime(upstream.url)
    client = openai_client(rt.url)
    for n in range(3):
        parts = [
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": f"fault:slow-end {n}"}],
                stream=True,
            )
            if c.choices
        ]
        assert "".join(parts) == str(n)
    assert upstream.connections == 1
