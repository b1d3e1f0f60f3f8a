"""Delegation over A2A between runtimes, a mixed pair, and A2A tasks in Redis.

Two runtimes (in-process, real HTTP on loopback): the lead's peer offers A2A JSON-RPC on
its card, so the lead delegates with `message/send` (POST /), never the peer's OpenAI API.
A peer without a card (an OpenAI-only agent) is still reached on `/v1/chat/completions`.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.helpers import get_artifact_text
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)
from support.runtime_harness import openai_client
from support.scripted_model import Reply


def _ask(rt, text: str, session: str):
    return openai_client(rt.url).chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": text}],
        extra_headers={"X-Session-ID": session},
    )


def _requests_by_route(url: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("kaos_agent_requests_total{") and 'method="POST"' in line:
            route = line.split('route="')[1].split('"')[0]
            counts[route] = counts.get(route, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def test_two_runtimes_delegate_over_a2a_with_context_depth_and_budget(
    model, make_model, start_runtime
):
    writer_model = make_model()
    writer = start_runtime(writer_model.url, AGENT_NAME="writer", AGENT_INSTRUCTIONS="Write.")
    lead = start_runtime(
        model.url,
        AGENT_NAME="lead",
        PEER_AGENTS="writer",
        PEER_AGENT_WRITER_CARD_URL=writer.url,
        MODEL_CALL_BUDGET=10,
    )
    model.push(
        Reply.tool_call("delegate_to_writer", {"task": "A line about rain."}),
        Reply.text("The writer says: Rain taps."),
    )
    writer_model.push(Reply.text("Rain taps."))
    answer = _ask(lead, "Write about rain.", "rain-1")
    assert answer.choices[0].message.content == "The writer says: Rain taps."
    assert model.requests[1]["messages"][-1]["content"] == "Rain taps."

    # Over A2A: the writer was asked at POST /, never on its OpenAI API.
    assert _requests_by_route(writer.url) == {"/": 1.0}
    [peer_request] = writer_model.requests
    assert peer_request["messages"] == [
        {"role": "system", "content": "Write."},
        {"role": "user", "content": "Write about rain."},  # the conversation, passed on
        {"role": "user", "content": "A line about rain."},
    ]
    # The limits travelled: one hop deep, its share of the budget (10 - 1 used - 1 kept).
    headers = writer_model.headers[0]
    assert "x-kaos-delegation-depth" not in headers  # those were for the writer, not its model
    writer_events = httpx.get(writer.url + "/memory/events", params={"session_id": "rain-1"}).json()
    assert writer_events["events"][0]["metadata"] == {"delegation_depth": 1}
    assert [e["type"] for e in writer_events["events"]] == ["user_message", "agent_response"]
    lead_events = httpx.get(lead.url + "/memory/events", params={"session_id": "rain-1"}).json()
    assert [e["type"] for e in lead_events["events"]] == [
        "user_message",
        "delegation_request",
        "delegation_response",
        "agent_response",
    ]
    metrics = httpx.get(lead.url + "/metrics").text
    assert 'kaos_agent_delegations_total{outcome="ok",peer="writer"} 1.0' in metrics


def test_the_peer_budget_share_is_enforced_over_a2a(model, make_model, start_runtime):
    """The lead has 3 calls: one for itself, one kept for its answer, one for the writer,
    whose model asks for a tool: the writer runs out after one call and says so."""
    writer_model = make_model(default=Reply.tool_call("nothing", {}))
    writer = start_runtime(writer_model.url, AGENT_NAME="writer")
    lead = start_runtime(
        model.url,
        AGENT_NAME="lead",
        PEER_AGENTS="writer",
        PEER_AGENT_WRITER_CARD_URL=writer.url,
        MODEL_CALL_BUDGET=3,
    )
    model.push(Reply.tool_call("delegate_to_writer", {"task": "loop"}), Reply.text("done"))
    assert _ask(lead, "go", "budget-1").choices[0].message.content == "done"
    assert len(writer_model.requests) == 1
    assert "budget of 1 model calls" in model.requests[1]["messages"][-1]["content"]
    assert _requests_by_route(writer.url) == {"/": 1.0}


def test_a_mixed_pair_a2a_peer_and_openai_only_peer(model, make_model, start_runtime):
    """`writer` is a runtime (A2A on its card); `legacy` serves only the OpenAI API and no
    card (the scripted model server stands in for such an agent)."""
    writer_model = make_model()
    legacy = make_model()
    writer = start_runtime(writer_model.url, AGENT_NAME="writer")
    lead = start_runtime(
        model.url,
        AGENT_NAME="lead",
        AGENT_SUB_AGENTS=f"writer:{writer.url},legacy:{legacy.url}",
        MCP_CONNECT_TIMEOUT_SECONDS=1,
    )
    model.push(
        Reply.tool_calls_(
            ("delegate_to_writer", {"task": "from writer"}),
            ("delegate_to_legacy", {"task": "from legacy"}),
        ),
        Reply.text("both answered"),
    )
    writer_model.push(Reply.text("writer answer"))
    legacy.push(Reply.text("legacy answer"))
    assert _ask(lead, "ask both", "mixed-1").choices[0].message.content == "both answered"
    results = {m["content"] for m in model.requests[1]["messages"] if m["role"] == "tool"}
    assert results == {"writer answer", "legacy answer"}
    assert _requests_by_route(writer.url) == {"/": 1.0}
    [legacy_request] = legacy.requests  # the OpenAI API, with the limits as headers
    assert legacy_request["messages"][-1] == {"role": "user", "content": "from legacy"}
    assert legacy.headers[0]["x-kaos-delegation-depth"] == "1"
    assert legacy.headers[0]["x-session-id"] == "mixed-1"
    assert int(legacy.headers[0]["x-kaos-model-call-budget"]) >= 1


@pytest.mark.asyncio
async def test_redis_task_store_is_shared_and_survives_a_restart(model, start_runtime, redis_url):
    env = {"MEMORY_TYPE": "redis", "MEMORY_REDIS_URL": redis_url, "AGENT_NAME": "keeper"}
    first = start_runtime(model.url, **env)
    model.push(Reply.text("kept in redis"))
    request = SendMessageRequest(
        message=Message(
            role=Role.ROLE_USER,
            message_id=str(uuid.uuid4()),
            context_id="redis-ctx",
            parts=[Part(text="remember this")],
        )
    )

    async def client_for(url: str, http: httpx.AsyncClient):
        return await create_client(url, ClientConfig(httpx_client=http, streaming=False))

    async with httpx.AsyncClient(timeout=30) as http:
        [event] = [e async for e in (await client_for(first.url, http)).send_message(request)]
        task_id = event.task.id
        replica = start_runtime(model.url, **env)  # a second replica sees the task
        seen = await (await client_for(replica.url, http)).get_task(GetTaskRequest(id=task_id))
        assert seen.status.state == TaskState.TASK_STATE_COMPLETED

    first.stop()
    replica.stop()
    await asyncio.sleep(0.1)
    restarted = start_runtime(model.url, **env)
    async with httpx.AsyncClient(timeout=30) as http:
        task = await (await client_for(restarted.url, http)).get_task(GetTaskRequest(id=task_id))
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.context_id == "redis-ctx"
    assert get_artifact_text(task.artifacts[0]) == "kept in redis"


@pytest.mark.asyncio
async def test_a2a_is_used_only_when_the_card_offers_json_rpc():
    from kaos_runtime.a2a.client import client_for

    base = {"name": "p", "description": "d", "version": "1", "skills": []}
    older_kaosgen = {  # cards of earlier runtimes: the OpenAI API, named HTTP+JSON
        **base,
        "url": "http://p",
        "preferredTransport": "HTTP+JSON",
        "supportedInterfaces": [{"url": "http://p", "protocolBinding": "HTTP+JSON"}],
    }
    json_rpc = {**base, "url": "https://gateway.example/p", "preferredTransport": "JSONRPC"}
    async with httpx.AsyncClient() as http:
        assert client_for(None, "http://p", http) is None
        assert client_for(older_kaosgen, "http://p", http) is None
        assert client_for({"name": []}, "http://p", http) is None  # not a card
        client = client_for(json_rpc, "http://peer.ns.svc:8000", http)
        assert client is not None
        assert client._transport.url == "http://peer.ns.svc:8000/"  # in-cluster, not the gateway


@pytest.mark.asyncio
async def test_canceling_a_task_cancels_the_peer_task_it_delegated(
    model, make_model, start_runtime
):
    writer_model = make_model()
    writer = start_runtime(writer_model.url, AGENT_NAME="writer")
    lead = start_runtime(
        model.url, AGENT_NAME="lead", PEER_AGENTS="writer", PEER_AGENT_WRITER_CARD_URL=writer.url
    )
    model.push(Reply.tool_call("delegate_to_writer", {"task": "take your time"}))
    writer_model.push(Reply.text("too late", delay=8))
    session = f"cancel-chain-{uuid.uuid4().hex[:6]}"
    request = SendMessageRequest(
        message=Message(
            role=Role.ROLE_USER,
            message_id=str(uuid.uuid4()),
            context_id=session,
            parts=[Part(text="delegate")],
        )
    )
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(lead.url, ClientConfig(httpx_client=http, streaming=True))
        stream = client.send_message(request)
        task_id = (await anext(stream)).task.id
        for _ in range(200):  # until the writer's model is asked
            if writer_model.requests:
                break
            await asyncio.sleep(0.05)
        assert writer_model.requests
        canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        await stream.aclose()

        list_tasks = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "ListTasks",
            "params": {"contextId": session},
        }
        state = None
        for _ in range(100):  # the writer's task, canceled in turn
            answer = await http.post(
                writer.url + "/", json=list_tasks, headers={"A2A-Version": "1.0"}
            )
            [task] = answer.json()["result"]["tasks"]
            state = task["status"]["state"]
            if state == "TASK_STATE_CANCELED":
                break
            await asyncio.sleep(0.05)
        assert state == "TASK_STATE_CANCELED"
