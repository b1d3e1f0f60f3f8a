"""The A2A task stores: bounded like sessions, copies not shared objects, Redis shared."""

from __future__ import annotations

import pytest
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import Artifact, ListTasksRequest, Part, Task, TaskState, TaskStatus
from a2a.utils.errors import InvalidParamsError
from kaos_runtime.a2a.task_store import LocalTaskStore, RedisTaskStore, create_task_store
from kaos_runtime.memory import LocalMemory, NullMemory, RedisMemory

pytestmark = pytest.mark.asyncio
CTX = ServerCallContext()


def task(task_id: str, context_id: str = "c", second: int = 0) -> Task:
    status = TaskStatus(state=TaskState.TASK_STATE_COMPLETED)
    status.timestamp.FromSeconds(1_700_000_000 + second)
    return Task(id=task_id, context_id=context_id, status=status)


async def test_local_store_keeps_the_most_recently_updated_tasks():
    store = LocalTaskStore(max_tasks=3)
    for i in range(4):
        await store.save(task(f"t{i}"), CTX)
    await store.save(task("t1"), CTX)  # updated: now the most recent
    await store.save(task("t4"), CTX)
    assert [await store.get(f"t{i}", CTX) is not None for i in range(5)] == [
        False,
        True,
        False,
        True,
        True,
    ]


async def test_stored_tasks_are_copies():
    store = LocalTaskStore()
    original = task("t")
    await store.save(original, CTX)
    original.context_id = "changed"
    got = await store.get("t", CTX)
    got.context_id = "changed too"
    assert (await store.get("t", CTX)).context_id == "c"


async def test_list_filters_orders_newest_first_and_pages():
    store = LocalTaskStore()
    for i in range(5):
        await store.save(task(f"t{i}", "a" if i % 2 else "b", second=i), CTX)
    page = await store.list(ListTasksRequest(context_id="b", page_size=2), CTX)
    assert [t.id for t in page.tasks] == ["t4", "t2"] and page.total_size == 3
    rest = await store.list(
        ListTasksRequest(context_id="b", page_size=2, page_token=page.next_page_token), CTX
    )
    assert [t.id for t in rest.tasks] == ["t0"] and rest.next_page_token == ""
    with pytest.raises(InvalidParamsError):
        await store.list(ListTasksRequest(page_token="not-a-token"), CTX)


async def test_the_store_follows_the_memory_backend(redis_url):
    assert isinstance(create_task_store(LocalMemory(), 10), LocalTaskStore)
    assert isinstance(create_task_store(NullMemory(), 10), LocalTaskStore)
    memory = RedisMemory(redis_url, prefix="kaos:memory:agent:")
    try:
        assert isinstance(create_task_store(memory, 10), RedisTaskStore)
    finally:
        await memory.close()


async def test_redis_store_is_bounded_and_shared(redis_url):
    one = RedisMemory(redis_url, prefix="kaos:memory:agent:")
    two = RedisMemory(redis_url, prefix="kaos:memory:agent:")
    other_agent = RedisMemory(redis_url, prefix="kaos:memory:other:")
    try:
        a, b = RedisTaskStore(one, max_tasks=2), RedisTaskStore(two, max_tasks=2)
        await a.save(task("t0"), CTX)
        await b.save(task("t1"), CTX)
        await a.save(task("t2"), CTX)
        assert await b.get("t0", CTX) is None  # the oldest went
        assert (await b.get("t2", CTX)).id == "t2"
        assert {t.id for t in (await a.list(ListTasksRequest(), CTX)).tasks} == {"t1", "t2"}
        assert await RedisTaskStore(other_agent).get("t2", CTX) is None
        await one.client.set("kaos:memory:agent:a2a:task:bad", "{not json")
        assert await a.get("bad", CTX) is None  # an unreadable entry reads as gone
        await b.delete("t2", CTX)
        assert await a.get("t2", CTX) is None
    finally:
        for memory in (one, two, other_agent):
            await memory.close()


def streamed(task_id: str) -> Task:
    """A task whose answer arrived in chunks, beside a data part that must stay apart."""
    data = Part(media_type="application/json")
    data.data.struct_value.update({"n": 1})
    answer = Artifact(
        artifact_id="a", name="answer", parts=[Part(text=t) for t in ("He", "llo", "!")]
    )
    other = Artifact(artifact_id="b", parts=[Part(text="x"), data, Part(text="y"), Part(text="z")])
    made = task(task_id)
    made.artifacts.extend([answer, other])
    return made


@pytest.mark.parametrize("backend", ["local", "redis"])
async def test_a_streamed_answer_is_stored_as_one_text_part(backend, request):
    memory = (
        RedisMemory(request.getfixturevalue("redis_url"), prefix="kaos:memory:agent:")
        if backend == "redis"
        else None
    )
    store = RedisTaskStore(memory) if memory else LocalTaskStore()
    try:
        original = streamed("s1")
        await store.save(original, CTX)
        got = await store.get("s1", CTX)
        assert [p.text for p in got.artifacts[0].parts] == ["Hello!"]
        assert [p.WhichOneof("content") for p in got.artifacts[1].parts] == ["text", "data", "text"]
        assert [p.text for p in got.artifacts[1].parts] == ["x", "", "yz"]
        assert len(original.artifacts[0].parts) == 3  # the caller's task is left as it was
    finally:
        if memory:
            await memory.close()


async def test_a2a_with_redis_down_is_a_prompt_json_rpc_error(model, start_runtime):
    import time

    import httpx
    from support.process import free_port

    rt = start_runtime(
        model.url, MEMORY_TYPE="redis", MEMORY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    message = {"role": "user", "messageId": "m", "parts": [{"kind": "text", "text": "hi"}]}
    for method in ("message/send", "message/send", "message/stream", "tasks/get"):
        params = {"id": "x"} if method == "tasks/get" else {"message": message}
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                rt.url + "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            )
        assert time.monotonic() - started < 5
        text = response.text
        assert response.status_code == 200 and '"code":-32603' in text.replace(" ", "")
        assert "redis memory at redis://127.0.0.1" in text
