"""Behaviour every memory backend shares, run against local memory and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import pytest
import pytest_asyncio
from kaos_runtime.memory import EVENT_TYPES, LocalMemory, Memory, RedisMemory, create_memory

pytestmark = pytest.mark.asyncio

Factory = Callable[..., Memory]


def settings(**overrides: object) -> SimpleNamespace:
    base = {
        "memory_enabled": True,
        "memory_type": "local",
        "memory_redis_url": None,
        "memory_max_sessions": 1000,
        "memory_max_session_events": 500,
        "agent_name": "tester",
    }
    return SimpleNamespace(**{**base, **overrides})


@pytest_asyncio.fixture(params=["local", "redis"])
async def make_memory(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Builds memories of one backend; all are closed after the test."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[Memory] = []

    def factory(**overrides: object) -> Memory:
        memory = create_memory(
            settings(memory_type=request.param, memory_redis_url=url, **overrides)
        )
        made.append(memory)
        return memory

    yield factory
    for memory in made:
        await memory.close()


async def test_backend_matches_type(make_memory: Factory) -> None:
    memory = make_memory()
    assert isinstance(memory, LocalMemory | RedisMemory)


async def test_events_round_trip_in_order(make_memory: Factory) -> None:
    memory = make_memory()
    for i, event_type in enumerate(EVENT_TYPES):
        await memory.add_event("s1", event_type, {"n": i, "text": "it's ünïcode"}, {"k": i})
    events = await memory.get_events("s1")
    assert [e["type"] for e in events] == list(EVENT_TYPES)
    first = events[0]
    assert set(first) == {"id", "session_id", "type", "content", "metadata", "timestamp"}
    assert first["session_id"] == "s1"
    assert first["content"] == {"n": 0, "text": "it's ünïcode"}
    assert first["metadata"] == {"k": 0}
    assert len({e["id"] for e in events}) == len(events)
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps)


async def test_get_events_limit_returns_newest(make_memory: Factory) -> None:
    memory = make_memory()
    for i in range(10):
        await memory.add_event("s", "user_message", f"m{i}")
    assert [e["content"] for e in await memory.get_events("s", limit=3)] == ["m7", "m8", "m9"]
    assert await memory.get_events("s", limit=0) == []
    assert len(await memory.get_events("s", limit=100)) == 10
    assert await memory.get_events("unknown") == []


async def test_get_messages_are_chat_turns(make_memory: Factory) -> None:
    memory = make_memory()
    await memory.add_event("s", "user_message", "hi")
    await memory.add_event("s", "tool_call", {"name": "echo"})
    await memory.add_event("s", "tool_result", "echoed")
    await memory.add_event("s", "agent_response", "hello")
    await memory.add_event("s", "user_message", "again")
    await memory.add_event("s", "agent_response", None)
    assert await memory.get_messages("s", 10) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": ""},
    ]
    assert await memory.get_messages("s", 2) == [
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": ""},
    ]
    assert await memory.get_messages("s", 0) == []
    assert await memory.get_messages("nobody", 5) == []


async def test_unknown_event_type_rejected(make_memory: Factory) -> None:
    memory = make_memory()
    with pytest.raises(ValueError, match="unknown memory event type"):
        await memory.add_event("s", "bogus", "x")
    assert not await memory.has_session("s")


async def test_sessions_listed_newest_first(make_memory: Factory) -> None:
    memory = make_memory()
    await memory.add_event("a", "user_message", "1")
    await memory.add_event("b", "user_message", "1")
    await memory.add_event("a", "agent_response", "2")
    sessions = await memory.list_sessions()
    assert [s["session_id"] for s in sessions] == ["a", "b"]
    a = sessions[0]
    assert set(a) == {"session_id", "created_at", "updated_at", "event_count"}
    assert a["event_count"] == 2
    assert a["created_at"] <= a["updated_at"]
    assert await memory.has_session("a")
    assert not await memory.has_session("c")


async def test_per_session_event_cap_drops_oldest(make_memory: Factory) -> None:
    memory = make_memory(memory_max_session_events=5)
    for i in range(12):
        await memory.add_event("s", "user_message", f"m{i}")
    events = await memory.get_events("s")
    assert [e["content"] for e in events] == [f"m{i}" for i in range(7, 12)]
    (session,) = await memory.list_sessions()
    assert session["event_count"] == 5


async def test_least_recently_updated_session_evicted(make_memory: Factory) -> None:
    memory = make_memory(memory_max_sessions=3)
    for sid in ("s1", "s2", "s3"):
        await memory.add_event(sid, "user_message", sid)
    await memory.add_event("s1", "agent_response", "touch")  # s2 is now the oldest
    await memory.add_event("s4", "user_message", "new")
    ids = [s["session_id"] for s in await memory.list_sessions()]
    assert ids == ["s4", "s1", "s3"]
    assert not await memory.has_session("s2")
    assert await memory.get_events("s2") == []
    assert len(await memory.get_events("s1")) == 2


async def test_reads_do_not_refresh_recency(make_memory: Factory) -> None:
    memory = make_memory(memory_max_sessions=2)
    await memory.add_event("old", "user_message", "x")
    await memory.add_event("new", "user_message", "x")
    await memory.get_events("old")
    await memory.get_messages("old", 5)
    await memory.add_event("newest", "user_message", "x")
    assert not await memory.has_session("old")


async def test_many_sessions_stay_bounded(make_memory: Factory) -> None:
    memory = make_memory(memory_max_sessions=20, memory_max_session_events=4)
    for i in range(300):
        await memory.add_event(f"s{i % 10}", "user_message", "x" * 100)
    assert [s["event_count"] for s in await memory.list_sessions()] == [4] * 10
    for i in range(100):
        await memory.add_event(f"t{i}", "user_message", "x")
    sessions = await memory.list_sessions()
    assert [s["session_id"] for s in sessions] == [f"t{i}" for i in range(99, 79, -1)]
