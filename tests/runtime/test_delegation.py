"""Delegation between agents (in-process runtimes on loopback, real HTTP between them)."""

from __future__ import annotations

import httpx
import openai
import pytest
from support.process import free_port
from support.runtime_harness import openai_client
from support.scripted_model import Reply


def _ask(rt, text: str, session: str | None = None):
    headers = {"X-Session-ID": session} if session else None
    return openai_client(rt.url).chat.completions.create(
        model="x", messages=[{"role": "user", "content": text}], extra_headers=headers
    )


@pytest.fixture
def pair(model, make_model, start_runtime):
    """Agent `lead` (model: `model`) may delegate to agent `writer` (model: returned)."""
    writer_model = make_model()
    writer = start_runtime(
        writer_model.url,
        AGENT_NAME="writer",
        AGENT_DESCRIPTION="Writes short poems.",
        AGENT_INSTRUCTIONS="You write poems.",
    )
    lead = start_runtime(
        model.url,
        AGENT_NAME="lead",
        PEER_AGENTS="writer",
        PEER_AGENT_WRITER_CARD_URL=writer.url,
        MEMORY_CONTEXT_LIMIT=3,
    )
    return lead, writer, writer_model


def test_delegation_calls_the_peer_with_context_depth_and_session(model, pair):
    lead, writer, writer_model = pair
    model.push(
        Reply.tool_call("delegate_to_writer", {"task": "A haiku about tea."}, usage=(5, 5)),
        Reply.text("Here is the poem: Leaves unfold.", usage=(9, 6)),
    )
    writer_model.push(Reply.text("Leaves unfold.", usage=(100, 100)))
    result = _ask(lead, "Get me a haiku about tea.", session="s-42")
    assert result.choices[0].message.content == "Here is the poem: Leaves unfold."
    assert result.usage.total_tokens == 25  # the lead's own model calls only

    tool = next(
        t for t in model.requests[0]["tools"] if t["function"]["name"] == "delegate_to_writer"
    )
    assert "Writes short poems." in tool["function"]["description"]
    assert tool["function"]["parameters"]["required"] == ["task"]

    [peer_request] = writer_model.requests
    assert peer_request["messages"] == [
        {"role": "system", "content": "You write poems."},
        {"role": "user", "content": "Get me a haiku about tea."},
        {"role": "user", "content": "A haiku about tea."},
    ]
    assert model.requests[1]["messages"][-1]["content"] == "Leaves unfold."

    writer_events = httpx.get(writer.url + "/memory/events", params={"session_id": "s-42"}).json()[
        "events"
    ]
    assert writer_events[0]["type"] == "user_message"
    assert writer_events[0]["content"] == "A haiku about tea."
    assert writer_events[0]["metadata"] == {"delegation_depth": 1}
    lead_events = httpx.get(lead.url + "/memory/events", params={"session_id": "s-42"}).json()[
        "events"
    ]
    assert [e["type"] for e in lead_events] == [
        "user_message",
        "delegation_request",
        "delegation_response",
        "agent_response",
    ]
    assert lead_events[1]["content"] == {"task": "A haiku about tea."}
    assert lead_events[1]["metadata"]["peer"] == "writer"
    assert lead_events[2]["content"] == "Leaves unfold."

    metrics = httpx.get(lead.url + "/metrics").text
    assert 'kaos_agent_delegations_total{outcome="ok",peer="writer"} 1.0' in metrics


def test_context_sent_to_the_peer_is_bounded_by_the_context_limit(model, pair):
    lead, _, writer_model = pair
    history = []
    for i in range(4):
        history += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    history.append({"role": "user", "content": "now delegate"})
    model.push(Reply.tool_call("delegate_to_writer", {"task": "the task"}), Reply.text("done"))
    writer_model.push(Reply.text("peer answer"))
    openai_client(lead.url).chat.completions.create(model="x", messages=history)
    sent = writer_model.requests[0]["messages"]
    assert sent[-4:] == [
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": "a3"},
        {"role": "user", "content": "now delegate"},
        {"role": "user", "content": "the task"},
    ]
    assert len(sent) == 5  # the writer's system prompt + contextLimit (3) + the task


def test_peer_failures_come_back_to_the_model_as_tool_errors(model, pair):
    lead, _, writer_model = pair
    writer_model.push(
        Reply.error(500, "writer model down"), Reply.error(500, "down"), Reply.error(500, "down")
    )
    model.push(
        Reply.tool_call("delegate_to_writer", {"task": "poem"}),
        Reply.text("The writer is unavailable."),
    )
    assert _ask(lead, "poem please").choices[0].message.content == "The writer is unavailable."
    result = model.requests[1]["messages"][-1]["content"]
    assert result.startswith("Error: agent 'writer' failed (502)")
    assert "writer model down" in result or "down" in result
    metrics = httpx.get(lead.url + "/metrics").text
    assert 'kaos_agent_delegations_total{outcome="error",peer="writer"} 1.0' in metrics


def test_unreachable_peer_is_a_tool_error_not_a_failure(model, start_runtime):
    lead = start_runtime(
        model.url,
        AGENT_SUB_AGENTS=f"ghost:http://127.0.0.1:{free_port()}",
        MCP_CONNECT_TIMEOUT_SECONDS=0.5,
    )
    model.push(Reply.tool_call("delegate_to_ghost", {"task": "boo"}), Reply.text("ghost is gone"))
    assert _ask(lead, "ask the ghost").choices[0].message.content == "ghost is gone"
    assert "unreachable" in model.requests[1]["messages"][-1]["content"]


def test_depth_header_over_the_limit_is_refused(model, start_runtime):
    rt = start_runtime(model.url, DELEGATION_MAX_DEPTH=2)
    client = openai_client(rt.url)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "q"}],
            extra_headers={"X-KAOS-Delegation-Depth": "3"},
        )
    assert info.value.status_code == 508
    assert info.value.body["code"] == "delegation_depth_exceeded"
    assert "DELEGATION_MAX_DEPTH" in info.value.message
    bad = httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "q"}]},
        headers={"X-KAOS-Delegation-Depth": "minus one"},
    )
    assert bad.status_code == 400
    assert model.requests == []


def test_agents_delegating_to_each_other_stop_at_the_depth_limit(model, make_model, start_runtime):
    """ping and pong are peers of each other and their models always delegate."""
    pong_model = make_model(default=Reply.tool_call("delegate_to_ping", {"task": "bounce"}))
    model.default = Reply.tool_call("delegate_to_pong", {"task": "bounce"})
    port_ping, port_pong = free_port(), free_port()
    common = {
        "DELEGATION_MAX_DEPTH": 2,
        "AGENTIC_LOOP_MAX_STEPS": 2,
        "MCP_CONNECT_TIMEOUT_SECONDS": 0.2,
    }
    pong = start_runtime(
        pong_model.url,
        AGENT_NAME="pong",
        AGENT_PORT=port_pong,
        AGENT_SUB_AGENTS=f"ping:http://127.0.0.1:{port_ping}",
        **common,
    )
    ping = start_runtime(
        model.url,
        AGENT_NAME="ping",
        AGENT_PORT=port_ping,
        AGENT_SUB_AGENTS=f"pong:{pong.url}",
        **common,
    )
    answer = _ask(ping, "start").choices[0].message.content
    assert "limit of 2 reasoning steps" in answer
    # Depth 0 (ping) and 1 (pong) may delegate; at depth 2 (ping again) no delegation tool
    # is offered, so the chain ends there instead of looping.
    assert len(model.requests) == 4 and len(pong_model.requests) == 2
    assert all("tools" in r for r in pong_model.requests)
    without_tools = [r for r in model.requests if "tools" not in r]
    assert len(without_tools) == 2
    assert "unknown tool 'delegate_to_pong'" in without_tools[1]["messages"][-1]["content"]
