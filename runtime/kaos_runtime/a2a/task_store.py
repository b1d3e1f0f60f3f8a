"""A2A tasks, kept in the memory backend the agent was given.

* `LocalTaskStore` (local or null memory): in process, bounded as sessions are: at most
  `max_tasks` tasks, the least recently updated dropped first.
* `RedisTaskStore` (redis memory): next to the sessions in the same Redis
  (`<memory prefix>a2a:task:<id>` as protobuf JSON, `<memory prefix>a2a:tasks` a sorted
  set by last update, trimmed to `max_tasks`), through the memory's circuit breaker. Tasks
  survive a restart and every replica sees them; a Redis that is down (or paused by the
  breaker) makes A2A calls fail at once with a JSON-RPC internal error naming it.

Tasks are stored serialized, so what a caller changes after `save` or `get` never
changes the stored task; a streamed answer's chunks are stored as one text part. Owners are not separated: the agent has no notion of users.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.tasks.task_store import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InternalError, InvalidParamsError
from google.protobuf import json_format

from ..memory import DEFAULT_MAX_SESSIONS, MemoryBackendError, RedisMemory
from .answer_stream import compact_text_parts


def _updated(task: Task) -> int:
    if task.HasField("status") and task.status.HasField("timestamp"):
        return task.status.timestamp.ToNanoseconds()
    return 0


def list_page(tasks: list[Task], params: ListTasksRequest) -> ListTasksResponse:
    """`tasks/list` over `tasks`: filtered, newest first, paged by an offset token."""
    if params.context_id:
        tasks = [t for t in tasks if t.context_id == params.context_id]
    if params.status:
        tasks = [t for t in tasks if t.status.state == params.status]
    tasks.sort(key=lambda t: (_updated(t), t.id), reverse=True)
    start = 0
    if params.page_token:
        if not (params.page_token.isascii() and params.page_token.isdigit()):
            raise InvalidParamsError(f"invalid page token: {params.page_token[:40]!r}")
        start = int(params.page_token)
    size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
    end = start + size
    return ListTasksResponse(
        tasks=tasks[start:end],
        next_page_token=str(end) if end < len(tasks) else "",
        total_size=len(tasks),
        page_size=size,
    )


class LocalTaskStore(TaskStore):
    """In process, at most `max_tasks` tasks (least recently updated dropped first)."""

    def __init__(self, max_tasks: int = DEFAULT_MAX_SESSIONS) -> None:
        self.max_tasks = max(1, max_tasks)
        self._tasks: OrderedDict[str, bytes] = OrderedDict()

    async def save(self, task: Task, context: ServerCallContext) -> None:
        self._tasks[task.id] = compact_text_parts(task).SerializeToString()
        self._tasks.move_to_end(task.id)
        while len(self._tasks) > self.max_tasks:
            self._tasks.popitem(last=False)

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        raw = self._tasks.get(task_id)
        return Task.FromString(raw) if raw is not None else None

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        return list_page([Task.FromString(raw) for raw in self._tasks.values()], params)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        self._tasks.pop(task_id, None)


class RedisTaskStore(TaskStore):
    """In the agent's Redis memory (see the module docstring)."""

    def __init__(self, memory: RedisMemory, max_tasks: int = DEFAULT_MAX_SESSIONS) -> None:
        self.memory = memory
        self.max_tasks = max(1, max_tasks)
        self.prefix = f"{memory.prefix}a2a:"
        self._index = f"{self.prefix}tasks"

    def _key(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}"

    async def _call(self, coro: Any) -> Any:
        """A Redis call; a Redis that is down is an A2A internal error naming it (-32603)."""
        try:
            return await self.memory.call(coro)
        except MemoryBackendError as exc:
            raise InternalError(f"task store unavailable: {exc}") from None

    async def save(self, task: Task, context: ServerCallContext) -> None:
        client = self.memory.client
        pipe = client.pipeline(transaction=True)
        stored = json_format.MessageToJson(compact_text_parts(task), indent=None)
        pipe.set(self._key(task.id), stored)
        pipe.zadd(self._index, {task.id: time.time()})
        pipe.zcard(self._index)
        results = await self._call(pipe.execute())
        excess = results[-1] - self.max_tasks
        if excess > 0:
            oldest = await self._call(client.zrange(self._index, 0, excess - 1))
            if oldest:
                pipe = client.pipeline(transaction=True)
                pipe.zrem(self._index, *oldest)
                pipe.delete(*(self._key(t) for t in oldest))
                await self._call(pipe.execute())

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        raw = await self._call(self.memory.client.get(self._key(task_id)))
        return self._parse(raw)

    @staticmethod
    def _parse(raw: Any) -> Task | None:
        if raw is None:
            return None
        try:
            return json_format.Parse(raw, Task(), ignore_unknown_fields=True)
        except json_format.ParseError:
            return None  # an entry that is not a task: as if it were gone

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        client = self.memory.client
        ids = await self._call(client.zrevrange(self._index, 0, self.max_tasks - 1))
        raws = await self._call(client.mget([self._key(t) for t in ids])) if ids else []
        tasks = [t for t in (self._parse(r) for r in raws) if t is not None]
        return list_page(tasks, params)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        pipe = self.memory.client.pipeline(transaction=True)
        pipe.zrem(self._index, task_id)
        pipe.delete(self._key(task_id))
        await self._call(pipe.execute())


def create_task_store(memory: Any, max_tasks: int) -> TaskStore:
    """Redis when the agent's memory is Redis; otherwise in process (null memory too: a
    task must outlive its request for `tasks/get`)."""
    if isinstance(memory, RedisMemory):
        return RedisTaskStore(memory, max_tasks)
    return LocalTaskStore(max_tasks)
