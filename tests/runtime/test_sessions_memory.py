"""Sessions and memory as seen through the HTTP API."""

from __future__ import annotations

import httpx
import pytest
from support.runtime_harness import InProcessRuntime, agent_env, openai_client
from support.scripted_model import Reply


def _chat(rt, messages, session: str | None = None, body_session: str | None = None, **body):
    headers = {"X-Session-ID": session} if session else {}
    payload = {"messages": messages, **body}
    if body_session:
        payload["session_id"] = body_session
    response = httpx.post(
        rt.url + "/v1/chat/completions", json=payload, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _events(rt, session: str, **params) -> list[dict]:
    response = httpx.get(rt.url + "/memory/events", params={"session_id": session, **params})
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_a_new_session_id_is_returned_and_reused_from_header_or_body(model, start_runtime):
    model.default = Reply.text("ok")
    rt = start_runtime(model.url)
    first = _chat(rt, _user("hello")).headers["x-session-id"]
    second = _chat(rt, _user("hello")).headers["x-session-id"]
    assert first and second and first != second
    assert _chat(rt, _user("again"), session=first).headers["x-session-id"] == first
    assert _chat(rt, _user("again"), body_session=second).headers["x-session-id"] == second
    sessions = {
        s["session_id"]: s for s in httpx.get(rt.url + "/memory/sessions").json()["sessions"]
    }
    assert sessions[first]["event_count"] == 4 and sessions[second]["event_count"] == 4


def test_earlier_turns_are_given_to_the_model_bounded_by_the_context_limit(model, start_runtime):
    model.push(Reply.text("Hi Ann."), Reply.text("You like tea."), Reply.text("Your name is Ann."))
    rt = start_runtime(model.url, MEMORY_CONTEXT_LIMIT=2, AGENT_INSTRUCTIONS="Remember things.")
    client = openai_client(rt.url)
    session = {"X-Session-ID": "conversation-1"}
    client.chat.completions.create(
        model="x", messages=_user("My name is Ann."), extra_headers=session
    )
    client.chat.completions.create(model="x", messages=_user("I like tea."), extra_headers=session)
    assert model.requests[1]["messages"] == [
        {"role": "system", "content": "Remember things."},
        {"role": "user", "content": "My name is Ann."},
        {"role": "assistant", "content": "Hi Ann."},
        {"role": "user", "content": "I like tea."},
    ]
    client.chat.completions.create(
        model="x", messages=_user("What is my name?"), extra_headers=session
    )
    assert model.requests[2]["messages"] == [
        {"role": "system", "content": "Remember things."},
        {"role": "user", "content": "I like tea."},
        {"role": "assistant", "content": "You like tea."},
        {"role": "user", "content": "What is my name?"},
    ]


def test_a_client_that_sends_its_own_history_gets_no_duplicate_turns(model, start_runtime):
    model.default = Reply.text("ok")
    rt = start_runtime(model.url)
    _chat(rt, _user("first"), session="s1")
    history = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    _chat(rt, history, session="s1")
    assert model.requests[1]["messages"] == history


def test_all_event_types_of_a_tool_using_turn_are_recorded(model, start_runtime, mcp_server):
    model.push(Reply.tool_call("add", {"a": 20, "b": 22}), Reply.text("42"))
    rt = start_runtime(model.url, MCP_SERVERS="calc", MCP_SERVER_calc_URL=mcp_server.url)
    _chat(rt, _user("add please"), session="tools-1")
    events = _events(rt, "tools-1")
    assert [e["type"] for e in events] == [
        "user_message",
        "tool_call",
        "tool_result",
        "agent_response",
    ]
    assert events[0]["content"] == "add please"
    assert events[1]["content"] == {"name": "add", "arguments": {"a": 20, "b": 22}}
    assert events[2]["content"] == {"name": "add", "result": "42"}
    assert events[2]["metadata"]["ok"] is True
    assert events[1]["metadata"]["tool_call_id"] == events[2]["metadata"]["tool_call_id"]
    assert events[3]["content"] == "42"
    assert events[3]["metadata"]["steps"] == 2
    assert all(e["session_id"] == "tools-1" and e["id"] and e["timestamp"] for e in events)


def test_a_model_failure_is_recorded_as_an_error_event(model, start_runtime):
    model.push(Reply.error(401, "invalid key"))
    rt = start_runtime(model.url)
    response = httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": _user("q")},
        headers={"X-Session-ID": "err-1"},
    )
    assert response.status_code == 502
    assert response.headers["x-session-id"] == "err-1"
    events = _events(rt, "err-1")
    assert [e["type"] for e in events] == ["user_message", "error"]
    assert "invalid key" in events[1]["content"]


def test_memory_events_endpoint_limits_and_errors(model, start_runtime):
    model.default = Reply.text("ok")
    rt = start_runtime(model.url)
    for i in range(3):
        _chat(rt, _user(f"turn {i}"), session="many")
    last_two = _events(rt, "many", limit=2)
    assert [e["type"] for e in last_two] == ["user_message", "agent_response"]
    assert last_two[0]["content"] == "turn 2"
    assert len(_events(rt, "many")) == 6
    everything = httpx.get(rt.url + "/memory/events").json()
    assert everything["total"] == 6 and everything["session_id"] is None
    missing = httpx.get(rt.url + "/memory/events", params={"session_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "session_not_found"
    for bad in ("0", "-1", "lots"):
        response = httpx.get(rt.url + "/memory/events", params={"session_id": "many", "limit": bad})
        assert response.status_code == 400 and response.json()["error"]["param"] == "limit"


def test_disabled_memory_remembers_nothing_but_still_names_the_session(model, start_runtime):
    model.default = Reply.text("ok")
    rt = start_runtime(model.url, MEMORY_ENABLED="false")
    _chat(rt, _user("first"), session="s")
    response = _chat(rt, _user("second"), session="s")
    assert response.headers["x-session-id"] == "s"
    assert model.requests[1]["messages"] == _user("second")
    assert httpx.get(rt.url + "/memory/sessions").json()["sessions"] == []


def test_local_memory_is_bounded_by_max_sessions(model, start_runtime):
    model.default = Reply.text("ok")
    rt = start_runtime(model.url, MEMORY_MAX_SESSIONS=3, MEMORY_MAX_SESSION_EVENTS=4)
    for i in range(5):
        _chat(rt, _user("x"), session=f"s{i}")
    for _ in range(3):
        _chat(rt, _user("y"), session="s4")
    sessions = httpx.get(rt.url + "/memory/sessions").json()["sessions"]
    assert sorted(s["session_id"] for s in sessions) == ["s2", "s3", "s4"]
    assert len(_events(rt, "s4")) == 4


@pytest.mark.redis
def test_redis_memory_survives_a_runtime_restart(model, redis_url):
    model.push(Reply.text("Noted: blue."), Reply.text("Blue."))
    env = agent_env(
        model.url, MEMORY_TYPE="redis", MEMORY_REDIS_URL=redis_url, AGENT_NAME="redis-agent"
    )
    with InProcessRuntime(env) as rt:
        _chat(rt, _user("My colour is blue."), session="persist-1")
    with InProcessRuntime(env) as rt:
        _chat(rt, _user("What is my colour?"), session="persist-1")
        assert model.requests[1]["messages"] == [
            {"role": "user", "content": "My colour is blue."},
            {"role": "assistant", "content": "Noted: blue."},
            {"role": "user", "content": "What is my colour?"},
        ]
        assert [e["type"] for e in _events(rt, "persist-1")][-2:] == [
            "user_message",
            "agent_response",
        ]


class SlowStore:
    """A memory store whose user-turn writes take `delay` seconds (as a distant Redis may)."""

    def __init__(self, delay: float) -> None:
        from kaos_runtime.memory import LocalMemory

        self.delay = delay
        self.inner = LocalMemory()
        self.written: list[tuple[str, float]] = []

    async def add_event(self, session_id, event_type, content, metadata=None) -> None:
        import asyncio
        import time

        if event_type == "user_message":
            await asyncio.sleep(self.delay)
        await self.inner.add_event(session_id, event_type, content, metadata)
        self.written.append((event_type, time.monotonic()))

    async def get_messages(self, session_id, limit):
        return await self.inner.get_messages(session_id, limit)

    async def list_sessions(self):
        return await self.inner.list_sessions()

    async def get_events(self, session_id, limit=None):
        return await self.inner.get_events(session_id, limit)

    async def has_session(self, session_id):
        return await self.inner.has_session(session_id)

    async def close(self) -> None:
        await self.inner.close()


def test_with_a_memory_store_the_model_call_does_not_wait_for_the_user_turn_write(model):
    import time

    store = SlowStore(delay=0.8)
    model.push(Reply.text("Hello there."), Reply.error(401, "invalid key"))
    with InProcessRuntime(agent_env(model.url), memory=store) as rt:
        started = time.monotonic()
        with httpx.stream(
            "POST",
            rt.url + "/v1/chat/completions",
            json={"messages": _user("hi"), "stream": True},
            headers={"X-Session-ID": "slow-1"},
            timeout=10,
        ) as response:
            first_content = None
            for line in response.iter_lines():
                if first_content is None and '"content":"Hello' in line:
                    first_content = time.monotonic() - started
        assert first_content is not None and first_content < 0.6  # the write takes 0.8 s
        # Recorded in order all the same: the answer waited for the user turn.
        assert [e["type"] for e in _events(rt, "slow-1")] == ["user_message", "agent_response"]

        # A model call that fails while the user turn is being written: both kept, in order.
        response = httpx.post(
            rt.url + "/v1/chat/completions",
            json={"messages": _user("again")},
            headers={"X-Session-ID": "slow-2"},
            timeout=10,
        )
        assert response.status_code == 502
        assert [e["type"] for e in _events(rt, "slow-2")] == ["user_message", "error"]
        assert _events(rt, "slow-2")[0]["content"] == "again"


@pytest.mark.redis
def test_redis_memory_keeps_the_user_turn_and_the_order_when_the_model_fails(model, redis_url):
    model.push(Reply.error(401, "invalid key"), Reply.text("Fine."))
    env = agent_env(model.url, MEMORY_TYPE="redis", MEMORY_REDIS_URL=redis_url)
    with InProcessRuntime(env) as rt:
        response = httpx.post(
            rt.url + "/v1/chat/completions",
            json={"messages": _user("first"), "stream": True},
            headers={"X-Session-ID": "redis-order"},
            timeout=10,
        )
        assert response.status_code == 502
        _chat(rt, _user("second"), session="redis-order", stream=True)
        events = _events(rt, "redis-order")
        assert [(e["type"], e["content"]) for e in events[:1] + events[2:3]] == [
            ("user_message", "first"),
            ("user_message", "second"),
        ]
        assert [e["type"] for e in events] == [
            "user_message",
            "error",
            "user_message",
            "agent_response",
        ]
