"""Fault injection: a peer agent whose A2A stream breaks half-way through its answer.

The peer (`support.raw_peer`, streaming offered in its card) answers `SendStreamingMessage`
with its task (working) and the first half of its answer, then: closes the connection
(`stream-cut`), ends the body cleanly with the task still working (`stream-ends`), or says
nothing more (`stream-hang`). The agent delegating gets a one-line tool error naming the
peer (never half an answer taken for a whole one), its caller a plain 200 answer; a task
the peer may still be running is canceled; the next delegation gets its own answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from support.raw_peer import RawPeer
from support.runtime_harness import InProcessRuntime, agent_env, openai_client
from support.scripted_model import Reply

TIMEOUT = 2.0  # DELEGATION_TIMEOUT_SECONDS

#: fault -> what the delegating agent's model reads as the tool result (a prefix of it)
EXPECTED = {
    "stream-cut": "Error: agent 'raw' broke off its answer",
    "stream-ends": "Error: agent 'raw' broke off its answer",
    "stream-hang": "Error: agent 'raw' did not answer in time",
}


@pytest.fixture(scope="module")
def setup(_model_server) -> Iterator[tuple[InProcessRuntime, RawPeer]]:
    with RawPeer(a2a=True, streaming=True) as peer:
        env = agent_env(
            _model_server.url,
            AGENT_NAME="lead-streaming",
            AGENT_SUB_AGENTS=f"raw:{peer.url}",
            DELEGATION_TIMEOUT_SECONDS=TIMEOUT,
            MCP_CONNECT_TIMEOUT_SECONDS=2,
        )
        with InProcessRuntime(env) as rt:
            yield rt, peer


def delegate(rt: InProcessRuntime, model, task: str) -> str:
    """Ask the agent; its model delegates `task`; returns the tool result the model read."""
    model.push(Reply.tool_call("delegate_to_raw", {"task": task}), Reply.text("done"))
    before = len(model.requests)
    answer = openai_client(rt.url, timeout=30).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "go"}]
    )
    assert answer.choices[0].message.content == "done"  # the caller's answer: a plain 200
    return model.requests[before + 1]["messages"][-1]["content"]


def methods(peer: RawPeer) -> list[str]:
    return [body.get("method") for _, body in peer.requests]


def test_a_whole_stream_is_the_answer(setup, model):
    rt, peer = setup
    mine = f"a streamed answer {uuid.uuid4().hex[:8]}"
    assert delegate(rt, model, mine) == mine
    assert methods(peer)[-1] == "SendStreamingMessage"


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_a_stream_that_breaks_mid_answer_is_a_tool_error(fault, setup, model):
    rt, peer = setup
    started = time.monotonic()
    before = len(peer.requests)

    result = delegate(rt, model, f"fault:{fault} half of this answer only")

    assert result.startswith(EXPECTED[fault]), result
    assert "\n" not in result
    assert time.monotonic() - started < TIMEOUT + 5
    deadline = time.monotonic() + 5  # the cancel is sent in the background
    while "CancelTask" not in methods(peer)[before:] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert methods(peer)[before:] == ["SendStreamingMessage", "CancelTask"]
    assert peer.requests[-1][1]["params"]["id"] == "task-raw"

    mine = f"for the next user {uuid.uuid4().hex[:8]}"
    assert delegate(rt, model, mine) == mine
