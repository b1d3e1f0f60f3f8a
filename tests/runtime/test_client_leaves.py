"""Fault injection: a client that goes away before its answer has begun.

The model API (`support.raw_upstream`) holds the runtime's request without a word. The
client leaves: a plain request's client (which gave up waiting), or a streaming one's
before the first token. The runtime must let go of the model call at once, not keep it
(a connection and a request, maybe a paid one) until MODEL_TIMEOUT_SECONDS; memory says
the request was not answered, and the next request gets its own answer. (A client that
leaves mid-stream: test_chat_api.py.)
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.raw_upstream import Connection, RawUpstream, Request
from support.runtime_harness import InProcessRuntime, agent_env, openai_client

TIMEOUT = 30.0  # MODEL_TIMEOUT_SECONDS: the runtime would wait this long without the client


class HoldingUpstream(RawUpstream):
    """Holds a `fault:hold` request until the runtime closes the connection, and notes
    that moment."""

    def __post_init__(self) -> None:
        self.faults = {"hold": self._hold}
        super().__post_init__()
        self.held = threading.Event()
        self.released = threading.Event()

    async def _hold(self, conn: Connection, req: Request) -> bool:
        self.held.set()
        with_eof = await conn.hold()
        self.released.set()
        return with_eof


@pytest.fixture(scope="module")
def upstream() -> Iterator[HoldingUpstream]:
    with HoldingUpstream() as server:
        yield server


@pytest.fixture(scope="module", params=["direct", "litellm"])
def runtime(request, upstream: HoldingUpstream) -> Iterator[InProcessRuntime]:
    env = agent_env(
        upstream.url,
        MODEL_CLIENT=request.param,
        MODEL_MAX_RETRIES=0,
        MODEL_TIMEOUT_SECONDS=TIMEOUT,
        AGENT_NAME=f"client-leaves-{request.param}",
    )
    with InProcessRuntime(env) as rt:
        yield rt


def send_and_leave(rt: InProcessRuntime, upstream: HoldingUpstream, session: str, stream: bool):
    """POST a chat request on a raw socket, wait until the model API holds it, close."""
    body = json.dumps(
        {"messages": [{"role": "user", "content": "fault:hold"}], "stream": stream}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Session-ID: {session}\r\n\r\n"
    ).encode()
    upstream.held.clear()
    upstream.released.clear()
    with socket.create_connection(("127.0.0.1", rt.port), timeout=10) as sock:
        sock.sendall(head + body)
        assert upstream.held.wait(10), "the model API never got the request"
        time.sleep(0.2)


def in_flight(rt: InProcessRuntime) -> float:
    return rt.runtime.metrics.in_flight._value.get()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_client_that_leaves_before_the_answer_cancels_the_model_call(stream, runtime, upstream):
    session = f"gone-{uuid.uuid4().hex[:8]}"
    left = time.monotonic()
    send_and_leave(runtime, upstream, session, stream)

    assert upstream.released.wait(5), "the model call went on after its client left"
    assert time.monotonic() - left < 5  # not MODEL_TIMEOUT_SECONDS (30 s)
    deadline = time.monotonic() + 5
    while in_flight(runtime) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert in_flight(runtime) == 0
    events = []
    while time.monotonic() < deadline:  # recorded once the request's task has ended
        response = httpx.get(
            runtime.url + "/memory/events", params={"session_id": session}, timeout=10
        )
        events = response.json()["events"]
        if len(events) == 2:
            break
        time.sleep(0.05)
    assert [e["type"] for e in events] == ["user_message", "agent_response"]
    assert events[1]["content"] == "" and events[1]["metadata"] == {"cancelled": True}

    mine = f"echo {uuid.uuid4().hex}"
    client = openai_client(runtime.url, timeout=30)
    answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": mine}])
    assert answer.choices[0].message.content == mine


def test_clients_that_leave_do_not_pile_up(runtime, upstream):
    """Ten clients leave in turn: each one's model call ends as it leaves."""
    for index in range(10):
        send_and_leave(runtime, upstream, f"pile-{index}", index % 2 == 0)
        assert upstream.released.wait(5), f"client {index}'s model call went on"
    deadline = time.monotonic() + 5
    while in_flight(runtime) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert in_flight(runtime) == 0
