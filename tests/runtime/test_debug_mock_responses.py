"""DEBUG_MOCK_RESPONSES (test only, as in KAOS): scripted replies instead of model calls,
from the first again for every request; a `tool_calls` reply calls real tools."""

from __future__ import annotations

import json

import httpx
from support.runtime_harness import openai_client


def _mcp_env(server) -> dict[str, str]:
    return {"MCP_SERVERS": "calc", "MCP_SERVER_calc_URL": server.url}


def _ask(rt, text: str = "go", **kw):
    return openai_client(rt.url).chat.completions.create(
        model="x", messages=[{"role": "user", "content": text}], **kw
    )


def test_replies_in_order_every_request_without_calling_the_model(model, start_runtime, mcp_server):
    replies = [
        json.dumps({"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}),
        "It is 5.",
    ]
    rt = start_runtime(
        model.url,
        DEBUG_MOCK_RESPONSES=json.dumps(replies),
        WAIT_FOR_DEPENDENCIES="true",
        **_mcp_env(mcp_server),
    )
    for _ in range(2):  # each request starts from the first reply
        assert _ask(rt).choices[0].message.content == "It is 5."
    streamed = _ask(rt, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "It is 5."
    assert model.requests == []  # the ModelAPI was never called
    # The tool really ran: its result is in memory.
    events = httpx.get(f"{rt.url}/memory/events", timeout=10).json()["events"]
    results = [e["content"] for e in events if e["type"] == "tool_result"]
    assert results and all("5" in json.dumps(r) for r in results)
    assert httpx.get(f"{rt.url}/ready", timeout=10).status_code == 200  # no model to wait for


def test_string_mode_and_the_end_of_the_script(model, start_runtime, mcp_server):
    replies = [{"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}]  # not a string
    rt = start_runtime(
        model.url,
        DEBUG_MOCK_RESPONSES=json.dumps(replies),
        TOOL_CALL_MODE="string",
        **_mcp_env(mcp_server),
    )
    assert _ask(rt).choices[0].message.content == "[no more mock responses]"
    events = httpx.get(f"{rt.url}/memory/events", timeout=10).json()["events"]
    assert any(e["type"] == "tool_call" for e in events)
    assert model.requests == []


def test_a_value_that_is_not_a_list_is_one_reply(model, start_runtime):
    rt = start_runtime(model.url, DEBUG_MOCK_RESPONSES="plain text, not JSON")
    assert _ask(rt).choices[0].message.content == "plain text, not JSON"
    assert model.requests == []
