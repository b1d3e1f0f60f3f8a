"""Fault injection: an MCP server whose tool list holds tools no model API takes, or
changes from one refresh to the next.

The MCP server is `support.raw_mcp` (raw loopback socket, its tool list scripted); the
model API checks each tool's parameters as OpenAI does (a JSON Schema of an object, else
400 "Invalid schema for function" for the whole request). A tool with a broken input
schema is not offered (one warning, not one per refresh); the other tools are, every
request gets its answer, and an `auto` agent stays in native tool calling.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from support.raw_mcp import ECHO, RawMcp
from support.raw_upstream import Connection, RawUpstream, Request, response
from support.runtime_harness import InProcessRuntime, agent_env

#: Schemas the MCP SDK lets through (it checks the root only) and a model API refuses.
BROKEN = [
    {"name": "odd_type", "inputSchema": {"type": "object", "properties": {"a": {"type": "strin"}}}},
    {"name": "odd_additional", "inputSchema": {"type": "object", "additionalProperties": "no"}},
]
#: A schema a model API takes, though Python's `re` cannot compile its pattern.
FINE = {
    "name": "with_pattern",
    "inputSchema": {
        "type": "object",
        "properties": {"q": {"type": "string", "pattern": "\\p{L}+"}},
    },
}


class StrictUpstream(RawUpstream):
    """Refuses a request whose tools' parameters are no object schema, as OpenAI does."""

    async def _play(self, conn: Connection, req: Request) -> bool:
        for tool in req.body.get("tools") or []:
            function = tool["function"]
            parameters = function.get("parameters")
            valid = isinstance(parameters, dict) and parameters.get("type") == "object"
            if valid and not Draft202012Validator(Draft202012Validator.META_SCHEMA).is_valid(
                parameters
            ):
                valid = False
            if not valid:
                message = f"Invalid schema for function '{function['name']}'"
                body = {"error": {"message": message, "type": "invalid_request_error"}}
                await conn.send(response(400, json.dumps(body).encode(), reason="Bad Request"))
                return True
        return await super()._play(conn, req)


@pytest.fixture(scope="module")
def upstream() -> Iterator[StrictUpstream]:
    with StrictUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def mcp() -> Iterator[RawMcp]:
    with RawMcp({}, tools=[ECHO, *BROKEN, FINE]) as server:
        yield server


@pytest.fixture(params=["auto", "native"])
def runtime(request, upstream, mcp) -> Iterator[InProcessRuntime]:
    env = agent_env(
        upstream.url,
        MODEL_NAME="unknown-to-litellm",  # auto: native, string if rejected
        TOOL_CALL_MODE=request.param,
        MCP_SERVERS="raw",
        MCP_SERVER_raw_URL=mcp.url,
        MCP_REFRESH_SECONDS=0.3,
        MODEL_MAX_RETRIES=0,
    )
    with InProcessRuntime(env) as rt:
        yield rt


def ask(rt: InProcessRuntime, text: str) -> httpx.Response:
    return httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": text}]},
        timeout=30,
    )


def offered(req: Any) -> list[str]:
    return sorted(t["function"]["name"] for t in req.body.get("tools") or [])


def test_tools_no_model_api_takes_are_not_offered(runtime, upstream, caplog):
    caplog.set_level(logging.WARNING)
    for turn in range(3):  # the tool list is refreshed meanwhile, several times
        answer = ask(runtime, f"echo turn {turn}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == f"echo turn {turn}"
        assert offered(upstream.requests[-1]) == ["echo", "with_pattern"]
        time.sleep(0.5)
    assert runtime.runtime.selector.mode() == "native"
    said = [r.getMessage() for r in caplog.records if "not offered" in r.getMessage()]
    assert sorted(said) == sorted(set(said))  # once each, not at every refresh
    assert {m.split("'")[1] for m in said} == {t["name"] for t in BROKEN}
    assert (
        "MCP server raw: tool 'odd_additional': not offered: its input schema is not valid "
        "JSON Schema at additionalProperties: 'no' is not of type 'object', 'boolean'"
    ) in said


def test_a_tool_list_the_sdk_refuses_is_one_line(upstream, caplog):
    """The MCP SDK refuses a whole tool list for one tool whose schema's root is not an
    object: the server is down (its tools not offered), said in one line, in the log and
    in /ready; the agent still answers."""
    caplog.set_level(logging.WARNING)
    tools = [ECHO, {"name": "array_input", "inputSchema": {"type": "array"}}]
    with RawMcp({}, tools=tools) as server:
        env = agent_env(
            upstream.url,
            MCP_SERVERS="raw",
            MCP_SERVER_raw_URL=server.url,
            MCP_REFRESH_SECONDS=0.3,
            MODEL_MAX_RETRIES=0,
        )
        with InProcessRuntime(env) as rt:
            status = httpx.get(rt.url + "/ready", timeout=10).json()["mcp_servers"]["raw"]
            answer = ask(rt, "echo still answering")
    assert status["up"] is False
    assert status["error"] == "tools.1.inputSchema.type: Input should be 'object'", status
    assert answer.status_code == 200 and offered(upstream.requests[-1]) == []
    said = [r.getMessage() for r in caplog.records if r.name.startswith("kaos_runtime")]
    assert said and all("\n" not in m and "pydantic.dev" not in m for m in said), said
