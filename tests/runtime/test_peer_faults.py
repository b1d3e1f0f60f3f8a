"""Fault injection: a peer agent that misbehaves on a raw loopback socket.

For each fault, over the OpenAI API (a peer without a card) and over A2A (a peer whose card
offers JSON-RPC): the agent delegating gets the peer's answer when the peer sent a valid
one, else a tool error naming the peer; its own caller always gets an OpenAI-shaped 200
answer; and the next delegation, for another user, gets its own answer, never the stray
one the peer sent after the first (peer connections are not reused).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.raw_peer import STRAY, RawPeer
from support.runtime_harness import InProcessRuntime, agent_env, openai_client
from support.scripted_model import Reply

TIMEOUT = 1.5  # DELEGATION_TIMEOUT_SECONDS of the agents here

#: fault -> what the delegating agent's model reads as the tool result (a prefix of it)
EXPECTED = {
    "two-in-one": "the answer",
    "stray-after": "the answer",
    "garbage-after": "the answer",
    "hang": "Error: agent 'raw' did not answer in time",
    "close-mid": "Error: agent 'raw'",
    "huge": "Error: agent 'raw' sent an answer over 33554432 bytes, not read further",
    "endless": "Error: agent 'raw' sent an answer over 33554432 bytes, not read further",
}


@pytest.fixture(scope="module", params=["openai", "a2a"])
def setup(request, _model_server) -> Iterator[tuple[InProcessRuntime, RawPeer]]:
    with RawPeer(a2a=request.param == "a2a") as peer:
        env = agent_env(
            _model_server.url,
            AGENT_NAME=f"lead-{request.param}",
            AGENT_SUB_AGENTS=f"raw:{peer.url}",
            DELEGATION_TIMEOUT_SECONDS=TIMEOUT,
            MCP_CONNECT_TIMEOUT_SECONDS=2,
        )
        with InProcessRuntime(env) as rt:
            yield rt, peer


def delegate(rt: InProcessRuntime, model, task: str, session: str) -> str:
    """Ask the agent; its model delegates `task`; returns the tool result the model read."""
    model.push(Reply.tool_call("delegate_to_raw", {"task": task}), Reply.text("done"))
    before = len(model.requests)
    answer = openai_client(rt.url, timeout=30).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "go"}],
        extra_headers={"X-Session-ID": session},
    )
    assert answer.choices[0].message.content == "done"  # the caller's answer: a plain 200
    return model.requests[before + 1]["messages"][-1]["content"]


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_peer_fault(fault, setup, model):
    rt, peer = setup
    assert peer.a2a == (rt.runtime.delegation.peers["raw"].a2a is not None)
    started = time.monotonic()
    result = delegate(rt, model, f"fault:{fault} the answer", f"{fault}-1")
    assert result.startswith(EXPECTED[fault]), result
    assert STRAY not in result
    assert time.monotonic() - started < TIMEOUT + 5
    time.sleep(0.15)  # let a stray response reach the client, were the connection kept

    for user in range(3):  # each next user gets their own answer
        mine = f"for user {user} only {uuid.uuid4().hex[:8]}"
        assert delegate(rt, model, mine, f"{fault}-user-{user}") == mine
    expected_path = "/" if peer.a2a else "/v1/chat/completions"
    assert {path for path, _ in peer.requests} == {expected_path}


def test_peer_connections_are_not_reused(setup, model):
    rt, peer = setup
    before = len(peer.post_connections)
    for i in range(3):
        assert delegate(rt, model, f"task {i}", "reuse") == f"task {i}"
    # One connection per delegation (a peer without a card also gets its card asked for
    # again in the background: those GETs are not counted).
    assert len(peer.post_connections) - before == 3


#: a peer's answer `content` (as JSON) -> the tool result the delegating model reads
CONTENT = {
    "42": "Error: agent 'raw' sent an unexpected answer: its content is int, not text",
    "true": "Error: agent 'raw' sent an unexpected answer: its content is bool, not text",
    '{"text": "x"}': "Error: agent 'raw' sent an unexpected answer: its content is dict, not text",
    '[{"type": "text", "text": "in "}, {"type": "text", "text": "parts"}]': "in parts",
    "null": "",
}


@pytest.mark.parametrize("setup", ["openai"], indirect=True)  # A2A answers are parts: a2a-sdk's
@pytest.mark.parametrize("content", sorted(CONTENT))
def test_a_peer_answer_whose_content_is_not_text(content, setup, model):
    """The OpenAI API's `content` is a string, text parts or null; anything else a peer
    sends there is a tool error, never a 500 for the caller of the delegating agent."""
    rt, _ = setup
    assert delegate(rt, model, f"fault:content-json {content}", "content") == CONTENT[content]
    mine = f"for the next user {uuid.uuid4().hex[:8]}"
    assert delegate(rt, model, mine, "content-next") == mine


@pytest.mark.parametrize(
    "card",
    [
        {"name": "raw", "skills": 5},
        {"name": "raw", "skills": True, "description": ["not", "text"]},
        {"name": "raw", "skills": [{"id": "s", "name": 7}, "not a skill"]},
        {"name": "raw", "description": "d" * 100_000, "skills": [{"id": "s", "name": "n" * 5000}]},
    ],
    ids=["skills-number", "skills-bool", "skill-odd", "huge"],
)
def test_a_peer_card_of_the_wrong_shape_never_breaks_the_agent(card, model):
    """A card is a peer's to write: its odd fields shape a tool description at most (of a
    bounded length), and every request (and the agent's own card) is still answered."""
    with RawPeer(a2a=False, card=card) as peer:
        env = agent_env(
            model.url,
            AGENT_NAME="lead-card",
            AGENT_SUB_AGENTS=f"raw:{peer.url}",
            MCP_CONNECT_TIMEOUT_SECONDS=2,
        )
        with InProcessRuntime(env) as rt:
            assert rt.runtime.delegation.peers["raw"].card == card  # read before serving
            response = httpx.get(rt.url + "/.well-known/agent.json", timeout=10)
            assert response.status_code == 200, response.text
            assert delegate(rt, model, "a task", "card") == "a task"
            tool = next(
                t for t in model.requests[-2]["tools"] if t["function"]["name"] == "delegate_to_raw"
            )
            description = tool["function"]["description"]
            assert description.startswith("Delegate a task to the agent 'raw'")
            assert len(description) < 2500  # it goes to the model with every request


def test_a_conversation_holding_a_lone_surrogate_still_reaches_the_peer(setup, model):
    """A user's `\\ud800` (valid JSON, not text UTF-8 can carry) goes to the peer as `?`
    in the context: the delegation is made, not failed before it left."""
    from kaos_runtime.a2a import wire

    rt, peer = setup
    model.push(Reply.tool_call("delegate_to_raw", {"task": "the task"}), Reply.text("done"))
    body = b'{"messages": [{"role": "user", "content": "hi \\ud800 there"}]}'
    response = httpx.post(
        rt.url + "/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", "X-Session-ID": "surrogate"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert model.requests[-1]["messages"][-1]["content"] == "the task"
    _, sent = peer.requests[-1]
    if peer.a2a:
        context = sent["params"]["message"]["metadata"][wire.CONVERSATION_KEY]
    else:
        context = sent["messages"][:-1]
    assert {"role": "user", "content": "hi ? there"} in context
