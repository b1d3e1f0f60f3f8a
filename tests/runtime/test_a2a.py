"""A2A against a real runtime process (`python -m kaos_runtime`), through the a2a-sdk client.

One runtime for the module, with the scripted model and a real fastmcp server (with the
`hold` tool, which records whether its call was cancelled) on loopback. Covers
`message/send`, `message/stream`, `tasks/get`, `tasks/cancel` mid-tool-call, a context
continued through both APIs, the card, and malformed requests answered with the JSON-RPC
error codes of the spec.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3.types import AgentCard as AgentCardV03
from a2a.helpers import get_artifact_text, get_message_text
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.errors import TaskNotFoundError
from google.protobuf import json_format
from support.fastmcp_thread import HOLDS, ThreadedMcpServer
from support.runtime_harness import agent_env, agent_process, openai_client
from support.scripted_model import Reply

pytestmark = pytest.mark.asyncio

#: The agent fixture's log file, by URL (what a malformed request leaves in it).
AGENT_LOGS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def holder() -> Iterator[ThreadedMcpServer]:
    server = ThreadedMcpServer("tools", hold=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory, _model_server, holder) -> Iterator[str]:
    env = agent_env(
        _model_server.url,
        AGENT_NAME="helper",
        AGENT_DESCRIPTION="Helps with sums.",
        MCP_SERVERS="tools",
        MCP_SERVER_tools_URL=holder.url,
        MODEL_MAX_RETRIES=0,
        MEMORY_CONTEXT_LIMIT=6,
        AGENT_MAX_BODY_BYTES=20000,
    )
    with agent_process(env, tmp_path_factory.mktemp("a2a")) as server:
        AGENT_LOGS[server.url] = server.log_path
        yield server.url


def message(text: str, context_id: str = "", **metadata) -> SendMessageRequest:
    msg = Message(
        role=Role.ROLE_USER,
        message_id=str(uuid.uuid4()),
        context_id=context_id,
        parts=[Part(text=text)],
    )
    if metadata:
        msg.metadata.update(metadata)
    return SendMessageRequest(message=msg)


async def send(url: str, request: SendMessageRequest, *, streaming: bool) -> list:
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(url, ClientConfig(httpx_client=http, streaming=streaming))
        return [event async for event in client.send_message(request)]


def events_of(url: str, session: str) -> list[dict]:
    response = httpx.get(url + "/memory/events", params={"session_id": session}, timeout=10)
    return response.json()["events"]


def rpc(url: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(url + "/", json=body, headers=headers, timeout=30)


def send_03(text: str, **params) -> dict:
    message = {
        "role": "user",
        "messageId": uuid.uuid4().hex,
        "parts": [{"kind": "text", "text": text}],
    }
    message.update(params)
    return {"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": message}}


# --- the card ----------------------------------------------------------------------------


async def test_card_is_an_sdk_agent_card_offering_json_rpc(agent):
    raw = httpx.get(agent + "/.well-known/agent-card.json").json()
    card = parse_agent_card(dict(raw))
    assert card.name == "helper" and card.description == "Helps with sums."
    assert card.capabilities.streaming is True
    [interface] = card.supported_interfaces
    assert (interface.url, interface.protocol_binding, interface.protocol_version) == (
        agent,
        "JSONRPC",
        "1.0",
    )
    assert {"chat", "add", "hold"} <= {s.id for s in card.skills}
    legacy = AgentCardV03.model_validate(raw)  # what 0.3 clients read
    assert (legacy.url, legacy.preferred_transport, legacy.protocol_version) == (
        agent,
        "JSONRPC",
        "0.3.0",
    )


# --- send, stream, get -------------------------------------------------------------------


async def test_send_runs_the_loop_and_answers_with_a_completed_task(agent, model):
    model.push(Reply.tool_call("add", {"a": 2, "b": 3}), Reply.text("2 + 3 = 5"))
    [event] = await send(agent, message("what is 2 + 3?", "send-1"), streaming=False)
    task = event.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert task.context_id == "send-1"
    assert [a.name for a in task.artifacts] == ["answer"]
    assert get_artifact_text(task.artifacts[0]) == "2 + 3 = 5"
    facts = json_format.MessageToDict(task.metadata)
    assert facts["kaos.tools/modelCalls"] == 2
    assert model.requests[1]["messages"][-1]["role"] == "tool"
    assert model.requests[1]["messages"][-1]["content"] == "5"
    # The session (contextId) holds the same events as a chat completion would.
    assert [e["type"] for e in events_of(agent, "send-1")] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_response",
    ]
    metrics = httpx.get(agent + "/metrics").text
    assert 'kaos_agent_requests_total{method="POST",route="/",status="200"}' in metrics
    assert 'kaos_agent_a2a_tasks_total{state="completed"}' in metrics

    got = await get_task(agent, task.id)
    assert got.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_artifact_text(got.artifacts[0]) == "2 + 3 = 5"
    assert get_message_text(got.history[0]) == "what is 2 + 3?"


async def test_a_data_part_reaches_the_model_with_its_whole_numbers(agent, model):
    """A2A 1.0 carries data parts as protobuf Structs (numbers are doubles): `1` must not
    reach the model as `1.0`."""
    model.push(Reply.text("noted"))
    body = send_03("order:")
    data = {"id": 12345, "qty": 1, "price": 2.5, "tags": ["a", 3], "big": 2**53}
    body["params"]["message"]["parts"].append({"kind": "data", "data": data})
    assert rpc(agent, body).json()["result"]["status"]["state"] == "completed"
    user = model.requests[-1]["messages"][-1]
    assert user["content"] == (
        'order:\n{"big": 9007199254740992, "id": 12345, "price": 2.5, "qty": 1, "tags": ["a", 3]}'
    )


async def get_task(url: str, task_id: str):
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(url, ClientConfig(httpx_client=http))
        return await client.get_task(GetTaskRequest(id=task_id))


async def test_get_of_an_unknown_task_is_task_not_found(agent):
    with pytest.raises(TaskNotFoundError):
        await get_task(agent, "no-such-task")


async def test_stream_sends_status_updates_in_order_then_the_answer(agent, model):
    answer = "The sum is 5, as the tool said."
    model.push(Reply.tool_call("add", {"a": 2, "b": 3}), Reply.text(answer))
    events = await send(agent, message("add 2 and 3", "stream-1"), streaming=True)
    kinds = []
    artifact_text = []
    for event in events:
        if event.HasField("task"):
            kinds.append(("task", TaskState.Name(event.task.status.state)))
        elif event.HasField("status_update"):
            status = event.status_update.status
            text = get_message_text(status.message) if status.HasField("message") else ""
            kinds.append((TaskState.Name(status.state), text))
        elif event.HasField("artifact_update"):
            artifact_text.append(get_artifact_text(event.artifact_update.artifact))
            if kinds[-1] != ("artifact", "answer"):  # its chunks, as the model wrote them
                kinds.append(("artifact", event.artifact_update.artifact.name))
    assert kinds == [
        ("task", "TASK_STATE_SUBMITTED"),
        ("TASK_STATE_WORKING", ""),
        ("TASK_STATE_WORKING", "calling tool add"),
        ("TASK_STATE_WORKING", "tool add answered"),
        ("TASK_STATE_WORKING", "step 2"),
        ("artifact", "answer"),
        ("TASK_STATE_COMPLETED", ""),
    ]
    assert "".join(artifact_text) == answer
    tool_call = next(
        e
        for e in events
        if e.HasField("status_update")
        and "calling tool" in get_message_text(e.status_update.status.message)
    )
    data = json_format.MessageToDict(tool_call.status_update.status.message.parts[1].data)
    assert data["kind"] == "tool_call" and data["arguments"] == {"a": 2, "b": 3}


def answer_chunks(events: list) -> list:
    return [e.artifact_update for e in events if e.HasField("artifact_update")]


async def test_stream_sends_the_answer_as_the_model_writes_it(agent, model):
    """Artifact chunks of one artifact while the model is still writing (the first at
    once), in A2A's append semantics; `tasks/get` then holds the answer as one text part,
    and the session records it as a chat completion would."""
    words = [f"word{i} " for i in range(12)]
    model.push(Reply.text("".join(words), tokens=words, token_delay=0.15))
    arrivals: list[tuple[float, object]] = []
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(agent, ClientConfig(httpx_client=http, streaming=True))
        async for event in client.send_message(message("write twelve words", "chunks-1")):
            arrivals.append((time.monotonic(), event))
    events = [event for _, event in arrivals]
    chunks = answer_chunks(events)
    assert len(chunks) >= 4, chunks  # 1.8 s of tokens, not one artifact at the end
    assert len({c.artifact.artifact_id for c in chunks}) == 1
    assert [c.append for c in chunks] == [False] + [True] * (len(chunks) - 1)
    assert [c.last_chunk for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert "".join(get_artifact_text(c.artifact) for c in chunks) == "".join(words)
    first = next(t for t, e in arrivals if e.HasField("artifact_update"))
    done = arrivals[-1][0]
    assert done - first > 1.0  # the first words arrived while the model was writing
    task = await get_task(agent, events[0].task.id)
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    [stored] = task.artifacts
    assert [p.text for p in stored.parts] == ["".join(words)]
    assert events_of(agent, "chunks-1")[-1]["content"] == "".join(words)


async def test_send_still_answers_in_one_piece(agent, model):
    words = [f"w{i} " for i in range(5)]
    model.push(Reply.text("".join(words), tokens=words))
    [event] = await send(agent, message("five words", "piece-1"), streaming=False)
    [artifact] = event.task.artifacts
    assert [p.text for p in artifact.parts] == ["".join(words)]
    assert model.requests[-1].get("stream") in (None, False)


async def test_a_model_failure_ends_the_task_failed_with_status_and_code(agent, model):
    model.push(Reply.error(500, "the model is down"))
    [event] = await send(agent, message("hello", "fail-1"), streaming=False)
    task = event.task
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert "the model is down" in get_message_text(task.status.message)
    facts = json_format.MessageToDict(task.metadata)
    assert facts["kaos.tools/error"] == {"status": 502, "code": "model_api_error"}
    assert [e["type"] for e in events_of(agent, "fail-1")] == ["user_message", "error"]


# --- cancel ------------------------------------------------------------------------------


async def test_cancel_mid_tool_call_cancels_the_mcp_call_and_ends_canceled(agent, model):
    token = uuid.uuid4().hex
    model.push(Reply.tool_call("hold", {"token": token, "seconds": 60}))
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(agent, ClientConfig(httpx_client=http, streaming=True))
        stream = client.send_message(message("hold on", "cancel-1"))
        task_id = None
        async for event in stream:
            if event.HasField("task"):
                task_id = event.task.id
            if event.HasField("status_update") and "calling tool hold" in get_message_text(
                event.status_update.status.message
            ):
                break
        assert task_id
        deadline = time.monotonic() + 10
        while HOLDS.get(token) != ["started"]:
            assert time.monotonic() < deadline, HOLDS.get(token)
            await asyncio.sleep(0.05)

        started = time.monotonic()
        canceled = await client.cancel_task(CancelTaskRequest(id=task_id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED
        assert time.monotonic() - started < 10

        async def rest() -> list:
            return [event async for event in stream]

        # The client still streaming the task sees it end: a final `canceled` status.
        [*_, last] = await asyncio.wait_for(rest(), 10)
        assert last.HasField("status_update"), last
        assert last.status_update.status.state == TaskState.TASK_STATE_CANCELED

    deadline = time.monotonic() + 10  # the MCP server saw the call cancelled
    while HOLDS[token] != ["started", "cancelled"]:
        assert time.monotonic() < deadline, HOLDS[token]
        await asyncio.sleep(0.05)
    assert (await get_task(agent, task_id)).status.state == TaskState.TASK_STATE_CANCELED
    events = events_of(agent, "cancel-1")
    assert events[-1]["type"] == "agent_response" and events[-1]["metadata"] == {"cancelled": True}
    assert 'kaos_agent_a2a_tasks_total{state="canceled"} 1.0' in httpx.get(agent + "/metrics").text

    # A canceled task cannot be canceled again; the agent answers the next task.
    response = rpc(
        agent, {"jsonrpc": "2.0", "id": 1, "method": "tasks/cancel", "params": {"id": task_id}}
    )
    assert response.json()["error"]["code"] == -32002
    model.push(Reply.text("still here"))
    [event] = await send(agent, message("are you there?"), streaming=False)
    assert get_artifact_text(event.task.artifacts[0]) == "still here"


async def test_resubscribe_follows_a_running_task_to_its_answer(agent, model):
    token = uuid.uuid4().hex
    model.push(Reply.tool_call("hold", {"token": token, "seconds": 1.5}), Reply.text("held on"))
    async with httpx.AsyncClient(timeout=30) as http:
        client = await create_client(agent, ClientConfig(httpx_client=http, streaming=True))
        first = client.send_message(message("hold briefly", "resub-1"))
        task_id = (await anext(first)).task.id
        await first.aclose()  # the first subscriber leaves; the task runs on
        while HOLDS.get(token) != ["started"]:
            await asyncio.sleep(0.05)
        events = [e async for e in client.subscribe(SubscribeToTaskRequest(id=task_id))]
    assert events[0].task.id == task_id
    assert events[0].task.status.state == TaskState.TASK_STATE_WORKING
    chunks = answer_chunks(events)
    assert "".join(get_artifact_text(c.artifact) for c in chunks) == "held on"
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert HOLDS[token] == ["started", "finished"]


# --- one session, two APIs ---------------------------------------------------------------


async def test_a_context_continues_through_a2a_and_the_openai_api(agent, model):
    session = f"both-{uuid.uuid4().hex[:6]}"
    model.push(Reply.text("Nice to meet you, Ada."))
    await send(agent, message("My name is Ada.", session), streaming=False)

    model.push(Reply.text("You are Ada."))
    answer = openai_client(agent).chat.completions.create(
        model="helper",
        messages=[{"role": "user", "content": "What is my name?"}],
        extra_headers={"X-Session-ID": session},
    )
    assert answer.choices[0].message.content == "You are Ada."
    assert model.requests[-1]["messages"][-3:] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
        {"role": "user", "content": "What is my name?"},
    ]

    model.push(Reply.text("Ada, twice."))
    event = (await send(agent, message("Say it again.", session), streaming=True))[-1]
    assert event.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert [m["content"] for m in model.requests[-1]["messages"][-5:]] == [
        "My name is Ada.",
        "Nice to meet you, Ada.",
        "What is my name?",
        "You are Ada.",
        "Say it again.",
    ]


# --- malformed requests: JSON-RPC error codes --------------------------------------------


async def test_malformed_requests_get_json_rpc_errors(agent, model):
    def error_of(response: httpx.Response) -> dict:
        assert response.headers["content-type"].startswith("application/json")
        return response.json()["error"]

    assert error_of(httpx.post(agent + "/", content=b"{not json"))["code"] == -32700
    assert (
        error_of(rpc(agent, {"jsonrpc": "1.0", "id": 1, "method": "message/send"}))["code"]
        == -32600
    )
    assert error_of(rpc(agent, [1, 2]))["code"] == -32600
    assert error_of(rpc(agent, {"jsonrpc": "2.0", "id": 1, "method": "no/such"}))["code"] == -32601
    bad_params = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": 5}}
    assert error_of(rpc(agent, bad_params))["code"] in (-32600, -32602)
    assert error_of(rpc(agent, send_03("   ")))["code"] == -32602  # no text
    assert error_of(rpc(agent, send_03("hi", contextId="a\nb")))["code"] == -32602
    files = send_03("x")
    files["params"]["message"]["parts"] = [{"kind": "file", "file": {"uri": "https://x/y.png"}}]
    assert error_of(rpc(agent, files))["code"] == -32005  # content type not supported
    get_unknown = {"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "nope"}}
    assert error_of(rpc(agent, get_unknown))["code"] == -32001

    deep = error_of(rpc(agent, send_03("hi"), **{"X-KAOS-Delegation-Depth": "9"}))
    assert deep["code"] == -32600 and "DELEGATION_MAX_DEPTH" in deep["message"]
    via_metadata = send_03("hi", metadata={"kaos.tools/delegationDepth": 9})
    assert error_of(rpc(agent, via_metadata))["code"] == -32600
    bad_budget = error_of(rpc(agent, send_03("hi"), **{"X-KAOS-Model-Call-Budget": "0"}))
    assert bad_budget["code"] == -32602

    # Nested beyond what a request needs: refused before the SDK parses it (no traceback).
    nested = httpx.post(agent + "/", content=b"[" * 15000, timeout=30)
    assert nested.status_code == 400 and error_of(nested)["code"] == -32600
    deep_part = send_03("hi")
    deep_value: object = 1
    for _ in range(150):
        deep_value = {"a": deep_value}
    deep_part["params"]["message"]["parts"].append({"kind": "data", "data": deep_value})
    assert error_of(rpc(agent, deep_part)) == {
        "code": -32600,
        "message": "request body nests arrays and objects deeper than 64 levels",
    }

    # ListTasks lists one conversation's tasks, never every user's.
    list_all = {"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}
    assert error_of(rpc(agent, list_all, **{"A2A-Version": "1.0"}))["code"] == -32602
    bad_token = {"jsonrpc": "2.0", "id": 1, "method": "ListTasks"}
    bad_token["params"] = {"contextId": "c", "pageToken": "\u00b2"}
    assert error_of(rpc(agent, bad_token, **{"A2A-Version": "1.0"}))["code"] == -32602

    log = AGENT_LOGS[agent].read_text(errors="replace")
    assert "Traceback" not in log and "refused a malformed request" in log

    too_big = rpc(agent, send_03("x" * 30000))
    assert too_big.status_code == 413 and error_of(too_big)["code"] == -32600
    assert model.requests == []  # none of these reached the model

    # The 1.0 method names work too (with the A2A-Version header of 1.0 clients).
    model.push(Reply.text("one point oh"))
    body = {
        "jsonrpc": "2.0",
        "id": "x",
        "method": "SendMessage",
        "params": {"message": {"role": "ROLE_USER", "messageId": "m", "parts": [{"text": "hi"}]}},
    }
    result = rpc(agent, body, **{"A2A-Version": "1.0"}).json()["result"]
    assert result["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
