"""Backend-specific memory behaviour: the factory, the null backend, Redis persistence/errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from kaos_runtime.memory import (
    LocalMemory,
    MemoryBackendError,
    MemoryPaused,
    NullMemory,
    RedisMemory,
    create_memory,
    redact_url,
)
from support.redis_server import start_redis


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


# --- a Redis that hangs --------------------------------------------------------------------


@contextlib.contextmanager
def hanging_redis(tmp_path: Path) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A redis-server of its own and `hang(True/False)`: SIGSTOP makes it a Redis that
    accepts connections and never answers, SIGCONT brings it back."""
    with contextlib.contextmanager(start_redis)(tmp_path) as server:

        def hang(on: bool) -> None:
            server.process.send_signal(signal.SIGSTOP if on else signal.SIGCONT)

        try:
            yield f"redis://127.0.0.1:{server.port}/0", hang
        finally:
            hang(False)


@pytest.mark.redis
@pytest.mark.asyncio
async def test_a_hanging_redis_is_not_called_during_a_cool_down(tmp_path) -> None:
    with hanging_redis(tmp_path) as (url, hang):
        memory = RedisMemory(url, timeout=0.3, breaker_failures=3, breaker_cooldown=1.0)
        try:
            await memory.add_event("s", "user_message", "before")
            hang(True)
            for _ in range(3):  # each waits for its timeout
                started = time.monotonic()
                with pytest.raises(MemoryBackendError):
                    await memory.add_event("s", "user_message", "lost")
                assert 0.2 < time.monotonic() - started < 2
            for _ in range(20):  # then the breaker is open: no call, no wait
                started = time.monotonic()
                with pytest.raises(MemoryPaused, match="failed 3 times in a row"):
                    await memory.get_events("s")
                assert time.monotonic() - started < 0.05
            hang(False)
            await asyncio.sleep(1.1)  # the cool-down ends: one trial call, which succeeds
            await memory.add_event("s", "agent_response", "after")
            contents = [e["content"] for e in await memory.get_events("s")]
            # A write that timed out may still land once Redis resumes (it was sent).
            assert contents[0] == "before" and contents[-1] == "after"
            assert set(contents[1:-1]) <= {"lost"}
            assert not memory.breaker.open
        finally:
            await memory.close()


@pytest.mark.redis
def test_the_agent_answers_at_full_speed_while_redis_hangs(tmp_path, model, caplog) -> None:
    from support.runtime_harness import InProcessRuntime, agent_env
    from support.scripted_model import Reply

    model.default = Reply.text("answered")
    with hanging_redis(tmp_path) as (url, hang):
        memory = RedisMemory(url, timeout=0.3, breaker_failures=3, breaker_cooldown=1.0)
        env = agent_env(model.url, MEMORY_TYPE="redis", MEMORY_REDIS_URL=url)
        with InProcessRuntime(env, memory=memory) as rt:
            hang(True)
            times = []
            for n in range(6):
                started = time.monotonic()
                response = httpx.post(
                    rt.url + "/v1/chat/completions",
                    json={"messages": [{"role": "user", "content": f"q{n}"}]},
                    headers={"X-Session-ID": "while-hanging"},
                    timeout=30,
                )
                times.append(time.monotonic() - started)
                assert response.status_code == 200
            assert max(times[2:]) < 0.3  # once paused, Redis adds nothing to a request
            metrics = httpx.get(rt.url + "/metrics").text
            lost = next(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith('kaos_agent_errors_total{kind="memory"}')
            )
            assert lost >= 12  # every event of the six requests (and the history loads)
            hang(False)
            time.sleep(1.1)
            response = httpx.post(
                rt.url + "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "back"}]},
                headers={"X-Session-ID": "after"},
                timeout=30,
            )
            assert response.status_code == 200
            events = httpx.get(rt.url + "/memory/events", params={"session_id": "after"})
            assert [e["type"] for e in events.json()["events"]] == [
                "user_message",
                "agent_response",
            ]
    messages = [r.getMessage() for r in caplog.records if r.name == "kaos_runtime.memory"]
    assert any("not calling it for 1s" in m for m in messages)
    assert any("answers again" in m for m in messages)


@pytest.mark.asyncio
async def test_events_are_stored_json_safe_and_bad_entries_never_break_reading(
    redis_url: str,
) -> None:
    local = LocalMemory()
    weird = {"score": float("nan"), "big": float("inf"), "when": object(), "ok": [1, "two"]}
    for memory in (local, RedisMemory(redis_url)):
        await memory.add_event("s", "tool_call", weird, {"usage": {"x": float("-inf")}})
        event = (await memory.get_events("s"))[-1]
        assert event["content"]["score"] is None and event["content"]["big"] is None
        assert event["content"]["ok"] == [1, "two"]
        assert event["content"]["when"].startswith("<object object")
        assert event["metadata"] == {"usage": {"x": None}}
        json.dumps(event, allow_nan=False)  # what /memory/events encodes
        await memory.close()
    redis = RedisMemory(redis_url)
    try:
        await redis.add_event("t", "user_message", "fine")
        await redis._client.rpush(redis._events_key("t"), "{not json", '{"x": NaN}', "[1]")
        events = await redis.get_events("t")
        assert [e["type"] for e in events] == ["user_message", "error", "error", "error"]
        assert events[1]["metadata"]["unreadable"] is True
        assert await redis.get_messages("t", 10) == [{"role": "user", "content": "fine"}]
    finally:
        await redis.close()


# --- a password-protected Redis (MEMORY_REDIS_PASSWORD) ----------------------------------

REDIS_PASSWORD = "pa ss:w@rd/$(x)"


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory: pytest.TempPathFactory):
    from support.redis_server import start_redis

    yield from start_redis(tmp_path_factory.mktemp("redis-auth"), password=REDIS_PASSWORD)


def _settings(port: int, **extra: str):
    from kaos_runtime.settings import load_settings

    env = {
        "AGENT_NAME": "a",
        "MODEL_API_URL": "http://model:8000",
        "MODEL_NAME": "m",
        "MEMORY_TYPE": "redis",
        "MEMORY_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        **extra,
    }
    return load_settings(env)


@pytest.mark.redis
@pytest.mark.asyncio
async def test_redis_memory_authenticates_with_the_password_from_the_env(protected_redis) -> None:
    settings = _settings(protected_redis.port, MEMORY_REDIS_PASSWORD=REDIS_PASSWORD)
    assert REDIS_PASSWORD not in repr(settings)  # a SecretStr: never in logs
    memory = create_memory(settings)
    try:
        await memory.ping()
        await memory.add_event("s", "user_message", "hello")
        assert [e["content"] for e in await memory.get_events("s")] == ["hello"]
    finally:
        await memory.close()


@pytest.mark.redis
@pytest.mark.asyncio
@pytest.mark.parametrize("password", [None, "wrong"])
async def test_redis_memory_without_the_right_password_fails_clearly(
    protected_redis, password: str | None
) -> None:
    extra = {"MEMORY_REDIS_PASSWORD": password} if password else {}
    memory = create_memory(_settings(protected_redis.port, **extra))
    try:
        with pytest.raises(
            MemoryBackendError, match=r"redis memory at redis://127\.0\.0\.1"
        ) as exc:
            await memory.ping()
        assert REDIS_PASSWORD not in str(exc.value)
    finally:
        await memory.close()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_a_password_in_the_url_wins_over_the_env(protected_redis) -> None:
    from urllib.parse import quote

    url = f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:{protected_redis.port}/0"
    memory = RedisMemory(url, password="ignored")
    try:
        await memory.ping()
    finally:
        await memory.close()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_the_password_can_come_from_a_mounted_file(protected_redis, tmp_path) -> None:
    """MEMORY_REDIS_PASSWORD_FILE (what kaosgen renders: the Secret mounted as a file), read
    once at start-up, its trailing newline dropped; a missing file stops start-up."""
    from kaos_runtime.settings import SettingsError

    path = tmp_path / "password"
    path.write_text(REDIS_PASSWORD + "\n", encoding="utf-8")
    memory = create_memory(_settings(protected_redis.port, MEMORY_REDIS_PASSWORD_FILE=str(path)))
    try:
        await memory.ping()
    finally:
        await memory.close()
    with pytest.raises(SettingsError, match=r"^MEMORY_REDIS_PASSWORD_FILE: cannot read"):
        _settings(protected_redis.port, MEMORY_REDIS_PASSWORD_FILE=str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="is empty"):
        _settings(protected_redis.port, MEMORY_REDIS_PASSWORD_FILE=str(tmp_path / "empty"))


# --- /memory/* while Redis fails ------------------------------------------------------------


@contextlib.contextmanager
def silent_redis() -> Iterator[str]:
    """A Redis that accepts connections (the kernel completes the handshake of a listening
    socket) and never answers a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def refused_redis() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"  # closed: refused


MEMORY_PATHS = ("/memory/sessions", "/memory/events", "/memory/events?session_id=s")


def _memory_errors(rt) -> list[tuple[int, dict]]:
    return [(r.status_code, r.json()) for r in (httpx.get(rt.url + p) for p in MEMORY_PATHS)]


def test_memory_endpoints_answer_502_when_redis_refuses(model, caplog) -> None:
    from support.runtime_harness import InProcessRuntime, agent_env

    url = refused_redis()
    memory = RedisMemory(url, connect_timeout=0.5, timeout=0.5, breaker_failures=100)
    with InProcessRuntime(agent_env(model.url, AGENT_NAME="mem-refused"), memory=memory) as rt:
        for status, body in _memory_errors(rt):
            assert status == 502, body
            assert body["error"]["code"] == "memory_unavailable"
            assert body["error"]["type"] == "upstream_error"
            assert "redis memory at" in body["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info]  # one line each, no traceback


def test_memory_endpoints_answer_504_when_redis_hangs_then_503_while_paused(model, caplog) -> None:
    from support.runtime_harness import InProcessRuntime, agent_env

    with silent_redis() as url:
        memory = RedisMemory(url, connect_timeout=0.3, timeout=0.3, breaker_failures=3)
        with InProcessRuntime(agent_env(model.url, AGENT_NAME="mem-silent"), memory=memory) as rt:
            started = time.monotonic()
            statuses = [status for status, _ in _memory_errors(rt)]
            assert statuses == [504, 504, 504]  # each waited for its timeout
            assert time.monotonic() - started < 5
            for status, body in _memory_errors(rt):  # the breaker is open: no wait
                assert status == 503, body
                assert body["error"]["code"] == "memory_unavailable"
                assert "failed 3 times in a row" in body["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info]


@contextlib.contextmanager
def lying_redis(reply: bytes) -> Iterator[str]:
    """A server that speaks RESP and answers every command with `reply`, whatever was asked
    (not Redis, or not quite: a proxy, another store on the port)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while line := await reader.readline():
                if line.startswith(b"*"):  # a command: its arguments, two lines each
                    for _ in range(2 * int(line[1:])):
                        await reader.readline()
                    writer.write(reply)
                    await writer.drain()
        writer.close()

    stopping: list[asyncio.Event] = []

    async def main() -> None:
        stopping.append(asyncio.Event())
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stopping[0].wait()
        server.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"redis://127.0.0.1:{port[0]}/0"
    finally:
        loop.call_soon_threadsafe(stopping[0].set)
        thread.join(10)


@pytest.mark.parametrize("reply", [b":1\r\n", b"+OK\r\n", b"$3\r\nabc\r\n"])
def test_memory_endpoints_answer_502_when_redis_sends_the_wrong_type(reply, model, caplog):
    from support.runtime_harness import InProcessRuntime, agent_env
    from support.scripted_model import Reply

    model.default = Reply.text("answered")
    with lying_redis(reply) as url:
        memory = RedisMemory(url, connect_timeout=1, timeout=1, breaker_failures=100)
        with InProcessRuntime(agent_env(model.url, AGENT_NAME="mem-lying"), memory=memory) as rt:
            chat = httpx.post(
                rt.url + "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "q"}]},
                timeout=30,
            )
            assert chat.status_code == 200  # memory is lost, the answer is not
            for status, body in _memory_errors(rt):
                assert status == 502, body
                assert body["error"]["code"] == "memory_unavailable"
                assert "was expected" in body["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info]
