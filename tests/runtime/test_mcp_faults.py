"""Fault injection: an MCP server that answers a tool call with something that is not MCP,
or with more than the agent reads (32 MiB, or a body without end).

The server (`support.raw_mcp`, a raw loopback socket) is up and its session fine; only one
call's answer is bad. That call is a one-line tool error for the model (a body without
end is cut off, not waited out), and the server's tools stay offered: the next
request, another user's, still has them and gets its own result on the same session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from support.raw_mcp import ENDLESS, RawMcp
from support.runtime_harness import InProcessRuntime, agent_env
from support.scripted_model import Reply

#: fault -> the JSON-RPC result the server sends for a call
BAD_RESULTS = {
    "content-not-a-list": {"content": "not a list"},
    "text-not-a-string": {"content": [{"type": "text", "text": 5}]},
    "unknown-block": {"content": [{"type": "hologram"}]},
    "no-content": {},
}


#: Answers over 32 MiB: not read further (the SDK reads a JSON answer whole).
TOO_LARGE = {
    "huge": {"content": [{"type": "text", "text": "x" * (32 * 1024 * 1024)}]},
    "endless": ENDLESS,
}
TOOL_TIMEOUT = 4.0


@pytest.fixture(scope="module")
def setup(_model_server) -> Iterator[tuple[InProcessRuntime, RawMcp]]:
    with RawMcp({**BAD_RESULTS, **TOO_LARGE, **UNREADABLE, **MANY_BLOCKS}) as server:
        env = agent_env(
            _model_server.url,
            AGENT_NAME="mcp-faults",
            MCP_SERVERS="raw",
            MCP_SERVER_raw_URL=server.url,
            MCP_CONNECT_TIMEOUT_SECONDS=5,
            TOOL_TIMEOUT_SECONDS=TOOL_TIMEOUT,
        )
        with InProcessRuntime(env) as rt:
            yield rt, server


def tool_result(rt: InProcessRuntime, model, text: str, arguments: str | None = None) -> str:
    """Ask the agent; its model calls `echo(text)` (or `echo` with the JSON text
    `arguments`); returns the tool result the model read."""
    model.push(Reply.tool_call("echo", arguments or {"text": text}), Reply.text("done"))
    before = len(model.requests)
    response = httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "go"}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "done"
    return model.requests[before + 1]["messages"][-1]["content"]


@pytest.mark.parametrize("fault", sorted(BAD_RESULTS))
def test_an_invalid_tool_result_is_a_tool_error_and_the_server_stays(fault, setup, model):
    rt, server = setup
    assert tool_result(rt, model, "warm") == "warm"
    connects = server.methods.count("initialize")

    result = tool_result(rt, model, f"fault:{fault}")

    assert result.startswith("Error: MCP server raw sent an invalid result for echo:"), result
    assert "\n" not in result and "pydantic.dev" not in result
    status = rt.runtime.mcp.status()["raw"]
    assert status["up"] and status["tools"] == 1 and status["error"] is None
    assert tool_result(rt, model, "the next user's text") == "the next user's text"
    assert server.methods.count("initialize") == connects  # the session was kept


@pytest.mark.parametrize("fault", sorted(TOO_LARGE))
def test_a_tool_answer_over_32_mib_is_not_read_further(fault, setup, model, caplog):
    rt, server = setup
    connects = server.methods.count("initialize")
    started = time.monotonic()
    caplog.set_level(logging.DEBUG)

    result = tool_result(rt, model, f"fault:{fault}")

    # One warning line says what happened; no traceback (the MCP SDK logs its own).
    assert not [r for r in caplog.records if r.exc_info or r.stack_info], [
        r.getMessage() for r in caplog.records if r.exc_info
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["MCP server raw: an answer over 33554432 bytes, not read further"], warnings

    assert result.startswith("Error: ") and "answer over 33554432 bytes" in result, result[:300]
    assert time.monotonic() - started < TOOL_TIMEOUT  # cut off, not timed out
    assert rt.runtime.mcp.status()["raw"]["up"]
    assert tool_result(rt, model, "the next user's text") == "the next user's text"
    assert server.methods.count("initialize") == connects  # the session was kept


#: A result of 200,000 content blocks (5 MB): the MCP SDK validates each in the event loop.
MANY_BLOCKS = {"many-blocks": {"content": [{"type": "text", "text": "x"}] * 200_000}}


def test_a_tool_answer_of_too_many_objects_is_not_validated(setup, model, caplog):
    rt, server = setup
    connects = server.methods.count("initialize")
    caplog.set_level(logging.INFO)

    result = tool_result(rt, model, "fault:many-blocks")

    assert result.startswith("Error: ") and "holding over 50000 JSON objects" in result, result[
        :300
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "MCP server raw: an answer holding over 50000 JSON objects, not read further"
    ], warnings
    assert not [r for r in caplog.records if r.exc_info]
    assert rt.runtime.mcp.status()["raw"]["up"]
    assert tool_result(rt, model, "the next user's text") == "the next user's text"
    assert server.methods.count("initialize") == connects  # the session was kept


#: Bodies that are no JSON-RPC answer (the MCP SDK logged a traceback for each).
UNREADABLE = {
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "not-json-rpc": b'{"hello": "world"}',
}


@pytest.mark.parametrize("fault", sorted(UNREADABLE))
def test_an_unreadable_answer_is_one_log_line_and_a_tool_error(fault, setup, model, caplog):
    rt, server = setup
    connects = server.methods.count("initialize")
    caplog.set_level(logging.DEBUG)

    result = tool_result(rt, model, f"fault:{fault}")

    assert result.startswith("Error: Failed to parse JSON response"), result
    assert not [r for r in caplog.records if r.exc_info or r.stack_info]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0], warnings
    assert warnings[0].startswith("MCP client: Error parsing JSON response: "), warnings
    assert rt.runtime.mcp.status()["raw"]["up"]
    assert tool_result(rt, model, "the next user's text") == "the next user's text"
    assert server.methods.count("initialize") == connects  # the session was kept


def test_arguments_holding_a_lone_surrogate_are_a_tool_error_and_the_server_stays(setup, model):
    """A model may write `\\ud800` in arguments (valid JSON, not text UTF-8 can carry): the
    call could not be sent, which is not the server failing."""
    rt, server = setup
    connects = server.methods.count("initialize")

    result = tool_result(rt, model, "", arguments='{"text": "a \\ud800 b"}')

    assert result.startswith("Error: arguments are not valid JSON"), result
    assert "surrogate" in result
    assert rt.runtime.mcp.status()["raw"]["up"]
    assert tool_result(rt, model, "the next user's text") == "the next user's text"
    assert server.methods.count("initialize") == connects
