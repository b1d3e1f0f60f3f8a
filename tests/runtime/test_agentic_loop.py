"""The agentic loop against a real fastmcp server: native and string tool calling."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from support.fastmcp_thread import ThreadedMcpServer
from support.process import free_port
from support.runtime_harness import openai_client
from support.scripted_model import Reply


def _mcp_env(server) -> dict[str, str]:
    return {"MCP_SERVERS": "calc", "MCP_SERVER_calc_URL": server.url}


def _ask(rt, text: str = "go", **kw):
    return openai_client(rt.url).chat.completions.create(
        model="x", messages=[{"role": "user", "content": text}], **kw
    )


def _sse(rt, text: str = "go") -> list[str]:
    """The raw SSE events of a streamed request (comments included)."""
    with httpx.stream(
        "POST",
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": text}], "stream": True},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    return [block for block in raw.split("\n\n") if block]


@pytest.mark.parametrize("backend", ["litellm", "direct"])
def test_native_tool_call_round_trip_sums_usage(model, start_runtime, mcp_server, backend):
    model.push(
        Reply.tool_call("add", {"a": 2, "b": 3}, usage=(10, 5)),
        Reply.text("The sum is 5.", usage=(20, 7)),
    )
    rt = start_runtime(model.url, MODEL_CLIENT=backend, **_mcp_env(mcp_server))
    result = _ask(rt, "what is 2+3?")
    assert result.choices[0].message.content == "The sum is 5."
    assert (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.total_tokens,
    ) == (
        30,
        12,
        42,
    )
    first, second = model.requests
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {"add", "echo", "fail", "slow_echo"}
    assert offered["add"]["description"] == "Add two integers."
    assert offered["add"]["parameters"]["required"] == ["a", "b"]
    assistant, tool = second["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == ""  # never null: llama.cpp rejects it
    [call] = assistant["tool_calls"]
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    assert tool == {"role": "tool", "tool_call_id": call["id"], "content": "5"}


def test_tool_calls_of_one_step_run_concurrently(model, start_runtime, mcp_server):
    model.push(
        Reply.tool_calls_(
            ("slow_echo", {"text": "first", "seconds": 1.0}),
            ("slow_echo", {"text": "second", "seconds": 1.0}),
        ),
        Reply.text("both done"),
    )
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    started = time.monotonic()
    assert _ask(rt).choices[0].message.content == "both done"
    assert time.monotonic() - started < 1.8  # one after the other would take 2 s or more
    results = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert [r["content"] for r in results] == ["first after 1.0s", "second after 1.0s"]


def test_tool_failures_go_back_to_the_model_as_tool_results(model, start_runtime, mcp_server):
    model.push(
        Reply(
            tool_calls=(
                Reply.tool_call("fail", {"reason": "disk full"}).tool_calls[0],
                Reply.tool_call("no_such_tool", {}).tool_calls[0],
                Reply.tool_call("add", "{not json").tool_calls[0],
                Reply.tool_call("add", {"a": "many", "b": 1}).tool_calls[0],
                Reply.tool_call("echo", {"text": "fine"}).tool_calls[0],
            )
        ),
        Reply.text("I handled the errors."),
    )
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    assert _ask(rt).choices[0].message.content == "I handled the errors."
    results = [m["content"] for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert results[0].startswith("Error: ") and "failed on purpose: disk full" in results[0]
    assert "unknown tool 'no_such_tool'" in results[1] and "add" in results[1]
    assert "not valid JSON" in results[2]
    assert results[3].startswith("Error: ") and "a" in results[3]
    assert results[4] == "fine"


def test_step_limit_ends_with_a_clear_answer(model, start_runtime, mcp_server):
    model.default = Reply.tool_call("echo", {"text": "again"})
    rt = start_runtime(model.url, AGENTIC_LOOP_MAX_STEPS=3, **_mcp_env(mcp_server))
    answer = _ask(rt).choices[0].message.content
    assert "limit of 3 reasoning steps" in answer
    assert "AGENTIC_LOOP_MAX_STEPS" in answer
    assert len(model.requests) == 3
    # Tools ran between the steps, not after the last one.
    assert len([m for m in model.requests[-1]["messages"] if m["role"] == "tool"]) == 2

    model.requests.clear()
    events = _sse(rt)
    text = "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content", "")
        for e in events
        if e.startswith("data: {")
    )
    assert "limit of 3 reasoning steps" in text
    assert len(model.requests) == 3


def test_streaming_shows_tool_progress_as_comments_and_streams_every_step(
    model, start_runtime, mcp_server
):
    model.push(
        Reply(
            content="Let me add.", tool_calls=Reply.tool_call("add", {"a": 1, "b": 1}).tool_calls
        ),
        Reply.text("It is 2."),
    )
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    events = _sse(rt)
    kinds = [e.split(" ", 2)[1] if e.startswith(": ") else "data" for e in events]
    assert ": tool_call" in "\n".join(events)
    call = json.loads(
        next(e for e in events if e.startswith(": tool_call "))[len(": tool_call ") :]
    )
    result = json.loads(
        next(e for e in events if e.startswith(": tool_result "))[len(": tool_result ") :]
    )
    assert call["name"] == "add" and call["arguments"] == {"a": 1, "b": 1}
    assert result == {"id": call["id"], "name": "add", "ok": True, "content": "2"}
    assert kinds.index("tool_call") < kinds.index("tool_result") < len(kinds) - 3
    text = "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content", "")
        for e in events
        if e.startswith("data: {")
    )
    assert text == "Let me add.\n\nIt is 2."
    # The SDK ignores the comments.
    model.push(
        Reply(content="", tool_calls=Reply.tool_call("add", {"a": 1, "b": 1}).tool_calls),
        Reply.text("It is 2."),
    )
    parts = [c.choices[0].delta.content or "" for c in _ask(rt, stream=True) if c.choices]
    assert "".join(parts) == "It is 2."


STRING_CALL = '```json\n{"tool": "add", "arguments": {"a": 1, "b": 2}}\n```'


def test_string_mode_parses_fenced_calls_and_answers_with_user_messages(
    model, start_runtime, mcp_server
):
    model.push(Reply.text("I will use a tool.\n" + STRING_CALL), Reply.text("It is 3."))
    rt = start_runtime(
        model.url, TOOL_CALL_MODE="string", AGENT_INSTRUCTIONS="Be exact.", **_mcp_env(mcp_server)
    )
    assert _ask(rt).choices[0].message.content == "It is 3."
    first, second = model.requests
    assert "tools" not in first
    system = first["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be exact.")
    assert '{"tool": "<tool name>"' in system["content"]
    assert "- add: Add two integers." in system["content"]
    assistant, result = second["messages"][-2:]
    assert assistant["role"] == "assistant" and '"tool": "add"' in assistant["content"]
    assert result == {"role": "user", "content": "Tool `add` returned:\n3"}


def test_string_mode_streaming_never_shows_the_tool_block(model, start_runtime, mcp_server):
    tokens = (
        "Checking",
        ".\n```",
        'json\n{"tool": ',
        '"echo", "arguments": ',
        '{"text": "x"}}\n`',
        "``",
    )
    model.push(
        Reply.text("".join(tokens), tokens=tokens), Reply.text("Done: x", tokens=("Done", ": x"))
    )
    rt = start_runtime(model.url, TOOL_CALL_MODE="string", **_mcp_env(mcp_server))
    parts = [c.choices[0].delta.content or "" for c in _ask(rt, stream=True) if c.choices]
    assert "".join(parts) == "Checking.\n\n\nDone: x"
    assert model.requests[1]["messages"][-1]["content"] == "Tool `echo` returned:\nx"


def test_auto_mode_falls_back_to_string_mode_when_the_model_rejects_tools(
    model, start_runtime, mcp_server
):
    model.push(
        Reply.error(400, "registry.ollama.ai/library/smollm2:135m does not support tools"),
        Reply.text('{"tool": "echo", "arguments": {"text": "hi"}}'),
        Reply.text("echoed hi"),
        Reply.text("second answer"),
    )
    rt = start_runtime(model.url, MODEL_NAME="ollama/smollm2:135m", **_mcp_env(mcp_server))
    assert _ask(rt).choices[0].message.content == "echoed hi"
    rejected, retried, final = model.requests
    assert "tools" in rejected
    assert "tools" not in retried and "Available tools" in retried["messages"][0]["content"]
    assert final["messages"][-1]["content"] == "Tool `echo` returned:\nhi"
    # Learned: the next request goes straight to string mode.
    assert _ask(rt).choices[0].message.content == "second answer"
    assert "tools" not in model.requests[3]


#: How model APIs refuse the `tools` parameter without the word "tool" in the message.
REFUSALS_OF_TOOLS = {
    "openai-schema": "Invalid schema for function 'echo': In context=(), 'additionalProperties' "
    "is required to be supplied and to be false.",
    "functions": "functions is not supported by this model",
    "function-calling": "Function calling is not supported for this model.",
}


@pytest.mark.parametrize("message", REFUSALS_OF_TOOLS.values(), ids=REFUSALS_OF_TOOLS.keys())
def test_auto_mode_falls_back_on_a_refusal_that_names_functions(
    message, model, start_runtime, mcp_server
):
    model.push(Reply.error(400, message))
    model.default = Reply.text("answered")
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    assert _ask(rt).choices[0].message.content == "answered"
    rejected, retried = model.requests
    assert "tools" in rejected
    assert "tools" not in retried and "Available tools" in retried["messages"][0]["content"]


#: OpenAI's context-length error names "the functions", but is not a refusal of them.
OPENAI_CONTEXT_LENGTH = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens (8800 in the messages, 200 in the functions). Please reduce the length of "
    "the messages or functions."
)


def test_auto_mode_does_not_fall_back_on_an_unrelated_400(model, start_runtime, mcp_server):
    model.push(Reply.error(400, OPENAI_CONTEXT_LENGTH))
    model.default = Reply.text("answered")
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    with pytest.raises(openai.APIStatusError) as caught:
        _ask(rt)
    assert caught.value.status_code == 502
    assert "maximum context length" in str(caught.value)
    assert len(model.requests) == 1  # not sent again without tools
    assert _ask(rt).choices[0].message.content == "answered"
    assert "tools" in model.requests[-1]  # still native
    assert not rt.runtime.selector.fell_back


#: What OpenAI answers (400) when a request's history holds a tool call without its result.
OPENAI_UNANSWERED_TOOL_CALL = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
    "each 'tool_call_id'. The following tool_call_ids did not have response messages: call_x"
)


def test_a_rejection_of_one_clients_tool_history_leaves_other_users_in_native_mode(
    model, start_runtime, mcp_server
):
    """A 400 about one request's tool-call history says nothing about what the model can
    do: that request goes on in string mode, the next user's request is native again."""
    model.push(Reply.error(400, OPENAI_UNANSWERED_TOOL_CALL))
    model.default = Reply.text("answered")
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    call = {"id": "call_x", "type": "function", "function": {"name": "echo", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "echo something"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "user", "content": "well?"},
    ]
    answer = openai_client(rt.url).chat.completions.create(model="x", messages=history)
    assert answer.choices[0].message.content == "answered"
    rejected, retried = model.requests
    assert "tools" in rejected and "tools" not in retried  # this request: string mode

    assert _ask(rt).choices[0].message.content == "answered"
    assert "tools" in model.requests[-1]  # the next user: native, as before
    assert not rt.runtime.selector.fell_back


def test_a_500_about_a_tool_call_leaves_other_users_in_native_mode(
    model, start_runtime, mcp_server
):
    """Ollama answers 500 "error parsing tool call" when its model wrote a call it cannot
    parse (one request in four, for some models): a failure of that answer, not a sign
    that the model cannot call tools. Once its retries are spent (here: none), that
    request goes on in string mode; the next is native again."""
    model.push(Reply.error(500, 'error parsing tool call: raw=\'{"path": "a.ts"}]\', err=invalid'))
    model.default = Reply.text("answered")
    rt = start_runtime(
        model.url, MODEL_NAME="ollama/gpt-oss:20b", MODEL_MAX_RETRIES=0, **_mcp_env(mcp_server)
    )
    assert _ask(rt).choices[0].message.content == "answered"
    rejected, retried = model.requests
    assert "tools" in rejected and "tools" not in retried

    assert _ask(rt).choices[0].message.content == "answered"
    assert "tools" in model.requests[-1]
    assert not rt.runtime.selector.fell_back


@pytest.mark.parametrize(("model_name", "native"), [("gpt-4o", True), ("deepseek-reasoner", False)])
def test_auto_mode_follows_the_known_capability_of_the_model(
    model, start_runtime, mcp_server, model_name, native
):
    model.push(Reply.text("ok"))
    rt = start_runtime(model.url, MODEL_NAME=model_name, **_mcp_env(mcp_server))
    _ask(rt)
    assert ("tools" in model.requests[0]) is native


def test_native_mode_never_falls_back(model, start_runtime, mcp_server):
    model.push(Reply.error(400, "tools are not supported"))
    rt = start_runtime(model.url, TOOL_CALL_MODE="native", **_mcp_env(mcp_server))
    response = httpx.post(
        rt.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "q"}]}
    )
    assert response.status_code == 502
    assert len(model.requests) == 1


def test_down_mcp_server_leaves_the_agent_answering_and_is_picked_up_later(model, start_runtime):
    server = ThreadedMcpServer("late", port=free_port())
    model.default = Reply.text("no tools needed")
    rt = start_runtime(
        model.url,
        MCP_SERVERS="late-tools",
        **{"MCP_SERVER_late-tools_URL": server.url},
        MCP_REFRESH_SECONDS=0.3,
        MCP_CONNECT_TIMEOUT_SECONDS=1,
    )
    try:
        assert _ask(rt).choices[0].message.content == "no tools needed"
        assert "tools" not in model.requests[0]
        status = httpx.get(rt.url + "/ready").json()["mcp_servers"]["late-tools"]
        assert status["up"] is False and status["error"]

        server.start()
        deadline = time.monotonic() + 10
        while not rt.runtime.mcp.all_up() and time.monotonic() < deadline:
            time.sleep(0.05)
        model.push(Reply.tool_call("echo", {"text": "back"}), Reply.text("it is back"))
        assert _ask(rt).choices[0].message.content == "it is back"
        assert model.requests[-1]["messages"][-1]["content"] == "back"

        server.stop()  # down again: the call fails as a tool error, the tools disappear
        model.push(Reply.tool_call("echo", {"text": "gone"}), Reply.text("tool failed"))
        assert _ask(rt).choices[0].message.content == "tool failed"
        assert model.requests[-1]["messages"][-1]["content"].startswith("Error: ")
        deadline = time.monotonic() + 5
        while rt.runtime.mcp.tools() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rt.runtime.mcp.tools() == []
    finally:
        server.stop()


def test_mcp_connection_is_reused_across_requests(model, start_runtime, mcp_server):
    model.default = None
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    connection = rt.runtime.mcp.connections["calc"]
    attempts, client = connection.attempts, connection._client
    for i in range(3):
        model.push(Reply.tool_call("add", {"a": i, "b": 1}), Reply.text(f"answer {i}"))
        assert _ask(rt).choices[0].message.content == f"answer {i}"
    assert connection.attempts == attempts and connection._client is client


def test_same_tool_name_on_two_servers_is_qualified(model, start_runtime, mcp_server):
    other = ThreadedMcpServer("other").start()
    try:
        model.push(Reply.tool_call("other_tools__add", {"a": 40, "b": 2}), Reply.text("42"))
        rt = start_runtime(
            model.url,
            MCP_SERVERS="calc,other-tools",
            MCP_SERVER_calc_URL=mcp_server.url,
            MCP_SERVER_OTHER_TOOLS_URL=other.url,  # the upper-snake spelling
        )
        assert _ask(rt).choices[0].message.content == "42"
        names = {t["function"]["name"] for t in model.requests[0]["tools"]}
        assert {"calc__add", "other_tools__add", "calc__echo", "other_tools__echo"} <= names
        assert model.requests[1]["messages"][-1]["content"] == "42"
    finally:
        other.stop()


def test_long_tool_calls_keep_the_stream_alive(model, start_runtime, mcp_server, monkeypatch):
    import kaos_runtime.app

    monkeypatch.setattr(kaos_runtime.app, "KEEPALIVE_SECONDS", 0.2)
    model.push(Reply.tool_call("slow_echo", {"text": "z", "seconds": 0.9}), Reply.text("done"))
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    events = _sse(rt)
    keepalives = [e for e in events if e == ": keepalive"]
    assert len(keepalives) >= 2
    tool_call = next(i for i, e in enumerate(events) if e.startswith(": tool_call "))
    tool_result = next(i for i, e in enumerate(events) if e.startswith(": tool_result "))
    assert all(tool_call < events.index(k) < tool_result for k in keepalives[:1])


def test_duplicate_tool_call_ids_from_the_model_are_made_unique(model, start_runtime, mcp_server):
    from support.scripted_model import ToolCall

    same = (
        ToolCall("echo", {"text": "a"}, id="call_0"),
        ToolCall("echo", {"text": "b"}, id="call_0"),
    )
    model.push(Reply(tool_calls=same), Reply.text("ok"))
    rt = start_runtime(model.url, **_mcp_env(mcp_server))
    assert _ask(rt).choices[0].message.content == "ok"
    *_, assistant, first, second = model.requests[1]["messages"]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert ids[0] == "call_0" and len(set(ids)) == 2
    assert [
        (first["tool_call_id"], first["content"]),
        (second["tool_call_id"], second["content"]),
    ] == [
        (ids[0], "a"),
        (ids[1], "b"),
    ]


def test_tools_served_by_the_mcp_tool_server_runtime(model, start_runtime, tmp_path):
    """The production pairing: our MCP tool-server image (stateless HTTP) as the tool source."""
    from support.mcp_server import mcp_tool_server

    source = (
        'def shout(text: str) -> str:\n    """Upper-case the text."""\n    return text.upper()\n'
    )
    with mcp_tool_server(tmp_path, tools=source) as server:
        model.push(Reply.tool_call("shout", {"text": "hey"}), Reply.text("They said HEY."))
        rt = start_runtime(model.url, MCP_SERVERS="shouter", MCP_SERVER_shouter_URL=server.url)
        for _ in range(2):  # the session is reused across requests
            assert _ask(rt).choices[0].message.content == "They said HEY."
            model.push(Reply.tool_call("shout", {"text": "hey"}), Reply.text("They said HEY."))
        [tool] = model.requests[0]["tools"]
        assert tool["function"]["name"] == "shout"
        assert tool["function"]["description"] == "Upper-case the text."
        assert model.requests[1]["messages"][-1]["content"] == "HEY"
        assert model.requests[3]["messages"][-1]["content"] == "HEY"
        assert rt.runtime.mcp.connections["shouter"].attempts == 1


def test_tool_names_a_model_api_refuses_are_offered_under_names_it_takes(model, start_runtime):
    """MCP allows tool names OpenAI's API refuses (a `.`, a space, over 64 characters):
    one of them would fail every request with 400. Each is offered under a name the API
    takes, distinct from every other, and calling it runs the MCP tool."""
    import re

    odd = ("notes.read", "notes_read", "tool with spaces", "x" * 70)
    server = ThreadedMcpServer("odd", echo_names=odd).start()
    try:
        model.push(Reply.tool_call("tool_with_spaces", {"text": "hi"}), Reply.text("done"))
        rt = start_runtime(model.url, MCP_SERVERS="odd", MCP_SERVER_odd_URL=server.url)
        assert _ask(rt).choices[0].message.content == "done"
        names = [t["function"]["name"] for t in model.requests[0]["tools"]]
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", n) for n in names), names
        assert len(names) == len(set(names)) == 4 + len(odd)  # add, echo, fail, slow_echo
        assert "tool_with_spaces" in names and "add" in names
        assert model.requests[1]["messages"][-1]["content"] == "hi (echoed)"
    finally:
        server.stop()
