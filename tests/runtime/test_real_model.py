"""End to end with a real small model: SmolLM2-135M served by llama.cpp.

(a) the model server itself answers the openai SDK (a sanity check of the fixture);
(b) the agent runtime, started as the image starts it, in front of that model and a real
MCP tool server, answers the openai SDK streaming and not, with real token usage, with
each model client (the default pooled HTTP client and litellm).

A 135M model says little of value; these tests check the plumbing, not the answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from support.agent_subprocess import agent_runtime, agent_runtime_available
from support.llm_server import MODEL_ALIAS
from support.mcp_server import mcp_tool_server
from support.process import Server

pytestmark = pytest.mark.real_llm

MAX_TOKENS = 24
TOOLS = '''
def get_capital(country: str) -> str:
    """The capital city of a country."""
    return {"france": "Paris", "japan": "Tokyo"}.get(country.strip().lower(), "unknown")
'''


def openai_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", timeout=120, max_retries=0)


def test_model_server_answers_directly(real_llm_url: str) -> None:
    client = openai_client(real_llm_url)
    assert [m.id for m in client.models.list()] == [MODEL_ALIAS]
    started = time.perf_counter()
    response = client.chat.completions.create(
        model=MODEL_ALIAS,
        messages=[
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": ""},  # null content would be rejected
            {"role": "user", "content": "Say hello again."},
        ],
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    elapsed = time.perf_counter() - started
    assert response.choices[0].message.content
    assert response.usage.prompt_tokens > 0
    assert 0 < response.usage.completion_tokens <= MAX_TOKENS
    print(f"\nllama.cpp direct, {response.usage.completion_tokens} tokens: {elapsed:.2f}s")


@pytest.fixture(scope="module", params=["direct", "litellm"])
def agent(
    request: pytest.FixtureRequest, real_llm_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The runtime in front of the real model, once per model client (MODEL_CLIENT)."""
    if not agent_runtime_available():
        pytest.skip("the agent runtime (kaos_runtime/__main__.py) is not in the tree yet")
    logs: Path = tmp_path_factory.mktemp("real-agent")
    with mcp_tool_server(logs, tools=TOOLS, env={"MCP_SERVER_NAME": "geo"}) as tools:
        env = {
            "AGENT_NAME": "real-agent",
            "AGENT_DESCRIPTION": "Answers questions about capitals.",
            "AGENT_INSTRUCTIONS": "You are a helpful assistant. Answer in one short sentence.",
            "MODEL_API_URL": real_llm_url,
            "MODEL_NAME": MODEL_ALIAS,
            "AGENTIC_LOOP_MAX_STEPS": "2",
            "MEMORY_TYPE": "local",
            "MCP_SERVERS": "geo-tools",
            "MCP_SERVER_geo-tools_URL": tools.url,
            "TOOL_CALL_MODE": "auto",
            "LOG_LEVEL": "INFO",
            "MODEL_CLIENT": request.param,
        }
        with agent_runtime(logs, env) as server:
            yield server


def test_agent_answers_with_real_usage(agent: Server) -> None:
    client = openai_client(agent.url)
    started = time.perf_counter()
    response = client.chat.completions.create(
        model=MODEL_ALIAS,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=MAX_TOKENS,
        temperature=0,
    )
    elapsed = time.perf_counter() - started
    assert response.object == "chat.completion"
    answer = response.choices[0].message.content
    assert answer and answer.strip(), response
    usage = response.usage
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    print(f"\nagent non-stream: {elapsed:.2f}s, usage {usage.model_dump()}, answer {answer!r}")


def test_agent_streams_an_answer(agent: Server) -> None:
    client = openai_client(agent.url)
    started = time.perf_counter()
    first_content: float | None = None
    parts: list[str] = []
    usage = None
    stream = client.chat.completions.create(
        model=MODEL_ALIAS,
        messages=[{"role": "user", "content": "Name one colour."}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                first_content = first_content or time.perf_counter()
                parts.append(choice.delta.content)
    elapsed = time.perf_counter() - started
    assert "".join(parts).strip()
    assert len(parts) > 1, "the answer should arrive in several chunks, as the model produces it"
    if usage is not None:  # llama.cpp streams no usage; the runtime may still count tokens
        assert usage.completion_tokens >= 0
    ttfb = (first_content or started) - started
    print(f"\nagent stream: first content {ttfb:.2f}s, total {elapsed:.2f}s, {len(parts)} chunks")


def test_agent_answers_over_a2a(agent: Server) -> None:
    """The same agent through the a2a-sdk client: `message/stream` sends the model's answer
    in artifact chunks as it is written, `message/send` a completed task whose metadata is
    the token usage of real model calls (llama.cpp streams no usage)."""
    import asyncio
    import uuid

    import httpx
    from a2a.client import ClientConfig, create_client
    from a2a.helpers import get_artifact_text
    from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, TaskState
    from google.protobuf import json_format

    async def ask(streaming: bool) -> list:
        request = SendMessageRequest(
            message=Message(
                role=Role.ROLE_USER,
                message_id=str(uuid.uuid4()),
                parts=[Part(text="Name one colour.")],
            )
        )
        async with httpx.AsyncClient(timeout=180) as http:
            config = ClientConfig(httpx_client=http, streaming=streaming)
            client = await create_client(agent.url, config)
            return [event async for event in client.send_message(request)]

    started = time.perf_counter()
    events = asyncio.run(ask(streaming=True))
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert chunks and chunks[-1].last_chunk
    answer = "".join(get_artifact_text(c.artifact) for c in chunks)
    assert answer.strip()
    print(
        f"\nagent over A2A: {time.perf_counter() - started:.2f}s, {len(chunks)} chunks, {answer!r}"
    )

    [event] = asyncio.run(ask(streaming=False))
    assert event.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_artifact_text(event.task.artifacts[0]).strip()
    usage = json_format.MessageToDict(event.task.metadata)["kaos.tools/usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
