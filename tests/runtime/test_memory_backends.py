"""Backend-specific memory behaviour: the factory, the null backend, Redis persistence/errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kaos_runtime.memory import (
    LocalMemory,
    MemoryBackendError,
    NullMemory,
    RedisMemory,
    create_memory,
    redact_url,
)


def test_factory_picks_backend() -> None:
    assert isinstance(create_memory(SimpleNamespace(memory_type="local")), LocalMemory)
    assert isinstance(create_memory(SimpleNamespace(memory_type="null")), NullMemory)
    assert isinstance(
        create_memory(SimpleNamespace(memory_enabled=False, memory_type="local")), NullMemory
    )
    local = create_memory(
        SimpleNamespace(memory_type="local", memory_max_sessions=7, memory_max_session_events=9)
    )
    assert isinstance(local, LocalMemory)
    assert (local.max_sessions, local.max_session_events) == (7, 9)
    assert isinstance(create_memory(SimpleNamespace()), LocalMemory)  # contract defaults


def test_factory_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="MEMORY_REDIS_URL"):
        create_memory(SimpleNamespace(memory_type="redis", memory_redis_url=None))
    with pytest.raises(ValueError, match="unknown MEMORY_TYPE"):
        create_memory(SimpleNamespace(memory_type="sqlite"))
    with pytest.raises(ValueError):
        LocalMemory(max_sessions=0)


def test_redis_keys_are_namespaced_per_agent() -> None:
    memory = create_memory(
        SimpleNamespace(memory_type="redis", memory_redis_url="redis://x:1/0", agent_name="a1")
    )
    assert isinstance(memory, RedisMemory)
    assert memory.prefix == "kaos:memory:a1:"


def test_redact_url_hides_password() -> None:
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("redis://user:s3cret@h/1") == "redis://user:***@h/1"
    assert redact_url("redis://h:6379") == "redis://h:6379"


@pytest.mark.asyncio
async def test_null_memory_remembers_nothing() -> None:
    memory = NullMemory()
    await memory.add_event("s", "user_message", "hi")
    assert await memory.get_messages("s", 5) == []
    assert await memory.get_events("s") == []
    assert await memory.list_sessions() == []
    assert not await memory.has_session("s")
    with pytest.raises(ValueError):
        await memory.add_event("s", "nope", "hi")
    await memory.close()


@pytest.mark.asyncio
async def test_redis_events_survive_a_restart(redis_url: str) -> None:
    """A new Memory (a restarted runtime) on the same Redis sees the earlier conversation."""
    first = RedisMemory(redis_url, prefix="kaos:memory:agent:")
    await first.add_event("s", "user_message", "remember me")
    await first.add_event("s", "agent_response", "I will")
    await first.close()

    second = RedisMemory(redis_url, prefix="kaos:memory:agent:")
    try:
        assert await second.has_session("s")
        assert await second.get_messages("s", 6) == [
            {"role": "user", "content": "remember me"},
            {"role": "assistant", "content": "I will"},
        ]
        other_agent = RedisMemory(redis_url, prefix="kaos:memory:other:")
        assert not await other_agent.has_session("s")
        await other_agent.close()
    finally:
        await second.close()


@pytest.mark.asyncio
async def test_redis_bounds_hold_across_instances(redis_url: str) -> None:
    """Two replicas writing to one Redis still respect the same limits."""
    a = RedisMemory(redis_url, max_sessions=5, max_session_events=3)
    b = RedisMemory(redis_url, max_sessions=5, max_session_events=3)
    try:
        for i in range(20):
            await (a if i % 2 else b).add_event(f"s{i}", "user_message", "x")
            await (b if i % 2 else a).add_event(f"s{i}", "agent_response", "y")
        sessions = await a.list_sessions()
        assert [s["session_id"] for s in sessions] == [f"s{i}" for i in range(19, 14, -1)]
        for i in range(4):
            await a.add_event("s19", "tool_call", i)
        assert len(await b.get_events("s19")) == 3
    finally:
        await a.close()
        await b.close()


@pytest.mark.asyncio
async def test_redis_unreachable_raises_backend_error() -> None:
    from support.process import free_port

    memory = RedisMemory(f"redis://:pw@127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    try:
        with pytest.raises(MemoryBackendError, match=r"redis memory at redis://:\*\*\*@127"):
            await memory.add_event("s", "user_message", "hi")
        with pytest.raises(MemoryBackendError):
            await memory.ping()
        with pytest.raises(MemoryBackendError):
            await memory.list_sessions()
    finally:
        await memory.close()
