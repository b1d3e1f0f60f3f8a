"""Session memory: what the agent remembers between requests.

Three backends share one small async interface so the server never cares which one runs:

- `LocalMemory` keeps sessions in process, bounded twice (at most `max_sessions`
  sessions, least recently updated evicted first; at most `max_session_events` events per
  session, oldest dropped) so a long-running pod cannot grow without limit.
- `RedisMemory` keeps the same bounded structure in Redis, so events survive a restart
  and are shared by every replica of the agent.
- `NullMemory` remembers nothing (`MEMORY_ENABLED=false` or `MEMORY_TYPE=null`).

Events are plain dicts (`id`, `session_id`, `type`, `content`, `metadata`, `timestamp`)
so the HTTP inspection endpoints can return them as they are. Timestamps are ISO 8601 in
UTC. `list_sessions` returns the most recently updated session first.

Whatever an event carries is made JSON-safe when it is recorded (`NaN` and infinities become
null, other objects their text), and an entry in Redis that cannot be read comes back as a
placeholder event: one bad event never breaks reading a session.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from .ids import unique_hex

log = logging.getLogger(__name__)
EVENT_TYPES = (
    "user_message",
    "agent_response",
    "tool_call",
    "tool_result",
    "delegation_request",
    "delegation_response",
    "error",
)
_EVENT_TYPE_SET = frozenset(EVENT_TYPES)
#: Event types that become chat messages for the model, and the role each one takes.
_CHAT_ROLES = {"user_message": "user", "agent_response": "assistant"}

DEFAULT_MAX_SESSIONS = 1000
DEFAULT_MAX_SESSION_EVENTS = 500


class MemoryBackendError(RuntimeError):
    """The memory store (Redis) could not be reached or answered with an error.

    Raised instead of the client library's own exceptions so callers catch one type;
    `timed_out` tells a store that did not answer in time from one that failed.
    """

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class MemoryPaused(MemoryBackendError):
    """The store failed repeatedly and is not called until its cool-down ends."""


class Memory(Protocol):
    """What the agent server needs from a memory backend."""

    async def add_event(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None = None
    ) -> None: ...

    async def get_messages(self, session_id: str, limit: int) -> list[dict]: ...

    async def list_sessions(self) -> list[dict]: ...

    async def get_events(self, session_id: str, limit: int | None = None) -> list[dict]: ...

    async def has_session(self, session_id: str) -> bool: ...

    async def close(self) -> None: ...


# --- helpers shared by the backends ---------------------------------------------------


def _now() -> tuple[float, str]:
    """Wall-clock time as (epoch seconds, ISO 8601 UTC string)."""
    now = time.time()
    return now, datetime.fromtimestamp(now, UTC).isoformat()


def _check_event_type(event_type: str) -> None:
    if event_type not in _EVENT_TYPE_SET:
        raise ValueError(f"unknown memory event type {event_type!r}; expected one of {EVENT_TYPES}")


def _null(name: str) -> None:
    return None


_decoder = json.JSONDecoder(parse_constant=_null)
_SCALARS = (str, int, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` is JSON as it is: scalars, finite floats, str-keyed dicts, lists."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > 32:
        return False
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    return False


def json_safe(value: Any) -> Any:
    """`value` as JSON can hold it: non-finite floats become null, other objects their text."""
    if _plain(value):
        return value
    try:
        return _decoder.decode(json.dumps(value, ensure_ascii=False, default=str))
    except (ValueError, RecursionError):
        return f"(unrecordable {type(value).__name__})"


def _make_event(
    session_id: str, event_type: str, content: Any, metadata: dict | None
) -> tuple[float, dict]:
    _check_event_type(event_type)
    epoch, iso = _now()
    event = {
        "id": unique_hex(),
        "session_id": session_id,
        "type": event_type,
        "content": json_safe(content),
        "metadata": json_safe(dict(metadata)) if metadata else {},
        "timestamp": iso,
    }
    return epoch, event


def _read_event(raw: str, session_id: str) -> dict:
    """One stored event; an entry that is not one becomes a placeholder `error` event."""
    try:
        event = _decoder.decode(raw)
    except (ValueError, RecursionError):
        event = None
    if isinstance(event, dict) and isinstance(event.get("type"), str):
        return event
    return {
        "id": "",
        "session_id": session_id,
        "type": "error",
        "content": "an unreadable entry in memory was skipped",
        "metadata": {"unreadable": True, "raw": raw[:200]},
        "timestamp": "",
    }


def _as_text(content: Any) -> str:
    """Chat message content must be a string (some servers reject null or objects)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)


def _to_messages(events: list[dict], limit: int) -> list[dict]:
    """User and agent turns of `events` as OpenAI chat messages, the last `limit` of them."""
    if limit <= 0:
        return []
    messages = [
        {"role": _CHAT_ROLES[e["type"]], "content": _as_text(e.get("content"))}
        for e in events
        if e.get("type") in _CHAT_ROLES
    ]
    return messages[-limit:]


def _tail(items: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return items
    return items[-limit:] if limit > 0 else []


# --- null -------------------------------------------------------------------------------


class NullMemory:
    """Remembers nothing; still rejects unknown event types so bugs show up in tests."""

    async def add_event(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None = None
    ) -> None:
        _check_event_type(event_type)

    async def get_messages(self, session_id: str, limit: int) -> list[dict]:
        return []

    async def list_sessions(self) -> list[dict]:
        return []

    async def get_events(self, session_id: str, limit: int | None = None) -> list[dict]:
        return []

    async def has_session(self, session_id: str) -> bool:
        return False

    async def ping(self) -> None:
        """Nothing to reach."""

    async def close(self) -> None:
        """Nothing to release."""


# --- local ------------------------------------------------------------------------------


@dataclass
class _Session:
    created_at: str
    updated_at: str
    events: deque[dict]


class LocalMemory:
    """In-process memory with LRU eviction of sessions and a per-session event cap.

    Every operation is synchronous under the hood (no await inside), so it is atomic with
    respect to other requests on the event loop. Reads do not change recency: only a new
    event makes a session "recently used", so inspecting memory never reorders it.
    """

    def __init__(
        self,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_session_events: int = DEFAULT_MAX_SESSION_EVENTS,
    ) -> None:
        if max_sessions < 1 or max_session_events < 1:
            raise ValueError("max_sessions and max_session_events must be at least 1")
        self.max_sessions = max_sessions
        self.max_session_events = max_session_events
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    async def add_event(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None = None
    ) -> None:
        _, event = _make_event(session_id, event_type, content, metadata)
        session = self._sessions.get(session_id)
        if session is None:
            stamp = event["timestamp"]
            session = _Session(stamp, stamp, deque(maxlen=self.max_session_events))
            self._sessions[session_id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session_id)
        session.updated_at = event["timestamp"]
        session.events.append(event)

    async def get_messages(self, session_id: str, limit: int) -> list[dict]:
        session = self._sessions.get(session_id)
        return _to_messages(list(session.events), limit) if session else []

    async def list_sessions(self) -> list[dict]:
        return [
            {
                "session_id": sid,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "event_count": len(s.events),
            }
            for sid, s in reversed(self._sessions.items())
        ]

    async def get_events(self, session_id: str, limit: int | None = None) -> list[dict]:
        session = self._sessions.get(session_id)
        return _tail(list(session.events), limit) if session else []

    async def has_session(self, session_id: str) -> bool:
        return session_id in self._sessions

    async def ping(self) -> None:
        """Always reachable."""

    async def close(self) -> None:
        self._sessions.clear()


# --- redis ------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class CircuitBreaker:
    """Stops calling a failing dependency for a while, so that it does not slow every request.

    After `failures` failures in a row the breaker opens: `check()` raises `MemoryPaused`
    at once for `cooldown` seconds. Then one call is let through as a trial (the others
    still fail fast); its success closes the breaker, its failure opens it again.
    """

    def __init__(self, what: str, failures: int = 3, cooldown: float = 30.0) -> None:
        self.what = what
        self.threshold = failures
        self.cooldown = cooldown
        self.failures = 0
        self._retry_at = 0.0

    @property
    def open(self) -> bool:
        return self.failures >= self.threshold

    def check(self) -> None:
        if not self.open:
            return
        now = time.monotonic()
        if now < self._retry_at:
            raise MemoryPaused(
                f"{self.what} failed {self.failures} times in a row; not called for "
                f"{self._retry_at - now:.0f}s more"
            )
        self._retry_at = now + self.cooldown  # this call is the trial; others wait for it

    def success(self) -> None:
        if self.open:
            log.warning("%s answers again; memory calls resumed", self.what)
        self.failures = 0

    def failure(self, exc: Exception) -> None:
        self.failures += 1
        if self.failures == self.threshold:
            log.warning(
                "%s failed %d times in a row (%s); not calling it for %gs",
                self.what,
                self.failures,
                exc,
                self.cooldown,
            )
        if self.open:
            self._retry_at = time.monotonic() + self.cooldown


class RedisMemory:
    """Memory in Redis, bounded the same way as `LocalMemory`.

    Layout under `prefix` (default `kaos:memory:<agent>:` so agents can share a Redis):
    `sessions` is a sorted set of session ids scored by last update (eviction order),
    `created` a hash of session id -> creation time, and `events:<session id>` a list of
    JSON-encoded events trimmed to the newest `max_session_events` on every write.

    Every call is bounded (`connect_timeout`, `timeout`) and goes through a
    `CircuitBreaker`: a Redis that hangs costs the first `breaker_failures` calls their
    timeout, then none for `breaker_cooldown` seconds (the events are lost and counted).
    """

    def __init__(
        self,
        url: str,
        *,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_session_events: int = DEFAULT_MAX_SESSION_EVENTS,
        prefix: str = "kaos:memory:",
        connect_timeout: float = 2.0,
        timeout: float = 2.0,
        breaker_failures: int = 3,
        breaker_cooldown: float = 30.0,
        password: str | None = None,
    ) -> None:
        import redis.asyncio as aioredis  # deferred: only this backend needs redis-py

        if max_sessions < 1 or max_session_events < 1:
            raise ValueError("max_sessions and max_session_events must be at least 1")
        self.url = url
        self.max_sessions = max_sessions
        self.max_session_events = max_session_events
        self.prefix = prefix
        self._sessions_key = f"{prefix}sessions"
        self._created_key = f"{prefix}created"
        # A password in the URL wins (redis-py lets URL parts override keyword arguments).
        self._client = aioredis.from_url(
            url,
            password=password or None,
            decode_responses=True,
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
        )
        self.breaker = CircuitBreaker(
            f"redis memory at {redact_url(url)}", breaker_failures, breaker_cooldown
        )

    @property
    def client(self) -> Any:
        """The redis-py client (the A2A task store keeps its keys next to the sessions)."""
        return self._client

    async def call(self, coro: Any) -> Any:
        """Await a redis-py call through this memory's circuit breaker (see `_run`)."""
        return await self._run(coro)

    def _events_key(self, session_id: str) -> str:
        return f"{self.prefix}events:{session_id}"

    def _error(self, exc: Exception) -> MemoryBackendError:
        from redis.exceptions import TimeoutError as RedisTimeout

        return MemoryBackendError(
            f"redis memory at {redact_url(self.url)} failed: {exc}",
            timed_out=isinstance(exc, TimeoutError | RedisTimeout),
        )

    async def _run(self, coro: Any, expected: _Shape | None = None) -> Any:
        """Await a redis-py call through the breaker, its exceptions as `MemoryBackendError`;
        a reply not of the `expected` shape (a server that is not Redis, or not quite) is
        one too."""
        from redis.exceptions import RedisError

        try:
            self.breaker.check()
        except MemoryPaused:
            coro.close()  # never awaited: no "coroutine was never awaited" warning
            raise
        try:
            result = await coro
        except (RedisError, OSError, TimeoutError) as exc:  # OSError: DNS, refused, raw
            self.breaker.failure(exc)
            raise self._error(exc) from exc
        except (TypeError, ValueError, IndexError) as exc:  # redis-py could not read a reply
            wrong = MemoryBackendError(
                f"redis memory at {redact_url(self.url)} sent a reply of the wrong type, where "
                f"{expected.what if expected else 'another'} was expected: {exc}"
            )
            self.breaker.failure(wrong)
            raise wrong from exc
        if expected is not None and not expected.fits(result):
            wrong = MemoryBackendError(
                f"redis memory at {redact_url(self.url)} sent {type(result).__name__} where "
                f"{expected.what} was expected: {str(result)[:100]}"
            )
            self.breaker.failure(wrong)
            raise wrong
        self.breaker.success()
        return result

    async def add_event(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None = None
    ) -> None:
        epoch, event = _make_event(session_id, event_type, content, metadata)
        payload = json.dumps(event, default=str)  # ASCII: a lone surrogate survives too
        key = self._events_key(session_id)
        pipe = self._client.pipeline(transaction=True)
        pipe.rpush(key, payload)
        pipe.ltrim(key, -self.max_session_events, -1)
        pipe.zadd(self._sessions_key, {session_id: epoch})
        pipe.hsetnx(self._created_key, session_id, event["timestamp"])
        pipe.zcard(self._sessions_key)
        results = await self._run(pipe.execute(), _TRANSACTION)
        if results[-1] > self.max_sessions:
            await self._evict(results[-1] - self.max_sessions)

    async def _evict(self, count: int) -> None:
        """Drop the `count` least recently updated sessions (concurrent evictions are harmless)."""
        oldest = await self._run(self._client.zrange(self._sessions_key, 0, count - 1), _TEXTS)
        if not oldest:
            return
        pipe = self._client.pipeline(transaction=True)
        pipe.zrem(self._sessions_key, *oldest)
        pipe.hdel(self._created_key, *oldest)
        pipe.delete(*(self._events_key(sid) for sid in oldest))
        await self._run(pipe.execute())

    async def _load(self, session_id: str, limit: int | None = None) -> list[dict]:
        start = -limit if limit else 0
        raw = await self._run(self._client.lrange(self._events_key(session_id), start, -1), _TEXTS)
        return [_read_event(item, session_id) for item in raw]

    async def get_messages(self, session_id: str, limit: int) -> list[dict]:
        if limit <= 0:
            return []
        return _to_messages(await self._load(session_id), limit)

    async def list_sessions(self) -> list[dict]:
        scored = await self._run(
            self._client.zrevrange(self._sessions_key, 0, -1, withscores=True), _SCORED
        )
        if not scored:
            return []
        ids = [sid for sid, _ in scored]
        pipe = self._client.pipeline(transaction=False)
        pipe.hmget(self._created_key, ids)
        for sid in ids:
            pipe.llen(self._events_key(sid))
        created, *counts = await self._run(pipe.execute(), _listing(len(ids)))
        return [
            {
                "session_id": sid,
                "created_at": created_at,
                "updated_at": datetime.fromtimestamp(score, UTC).isoformat(),
                "event_count": count,
            }
            for (sid, score), created_at, count in zip(scored, created, counts, strict=True)
        ]

    async def get_events(self, session_id: str, limit: int | None = None) -> list[dict]:
        if limit is not None and limit <= 0:
            return []
        return await self._load(session_id, limit)

    async def has_session(self, session_id: str) -> bool:
        score = await self._run(self._client.zscore(self._sessions_key, session_id), _SCORE)
        return score is not None

    async def ping(self) -> None:
        """Raise `MemoryBackendError` unless Redis answers (for readiness checks)."""
        await self._run(self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()


# --- reply shapes ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """What a Redis reply must look like before it is used (`RedisMemory._run`)."""

    what: str
    fits: Callable[[Any], bool]


#: The latest time `datetime` can show (a session's score is its last update, in seconds).
_MAX_EPOCH = 253402300799.0


def _is_epoch(value: Any) -> bool:
    return isinstance(value, int | float) and 0 <= value <= _MAX_EPOCH


_TEXTS = _Shape(
    "a list of strings", lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)
)
_SCORE = _Shape("a score", lambda v: v is None or _is_epoch(v))
_SCORED = _Shape(
    "a list of (session, time) pairs",
    lambda v: (
        isinstance(v, list)
        and all(
            isinstance(p, list | tuple)
            and len(p) == 2
            and isinstance(p[0], str)
            and _is_epoch(p[1])
            for p in v
        )
    ),
)
_TRANSACTION = _Shape(
    "the transaction's five replies",
    lambda v: isinstance(v, list) and len(v) == 5 and isinstance(v[-1], int),
)


def _listing(sessions: int) -> _Shape:
    """Creation times, then event counts, of `sessions` sessions."""
    return _Shape(
        f"{sessions} creation times and {sessions} counts",
        lambda v: (
            isinstance(v, list)
            and len(v) == sessions + 1
            and isinstance(v[0], list)
            and len(v[0]) == sessions
            and all(c is None or isinstance(c, str) for c in v[0])
            and all(isinstance(n, int) for n in v[1:])
        ),
    )


# --- factory ----------------------------------------------------------------------------


def create_memory(settings_like: Any) -> Memory:
    """The backend the settings ask for.

    Reads `memory_enabled`, `memory_type` (`local` | `redis` | `null`), `memory_redis_url`,
    `memory_redis_password` (a str or pydantic SecretStr), `memory_max_sessions`,
    `memory_max_session_events`, and `agent_name` (to namespace Redis keys). Missing
    attributes take the contract defaults.
    """
    enabled = getattr(settings_like, "memory_enabled", True)
    kind = str(getattr(settings_like, "memory_type", "local") or "local").lower()
    max_sessions = int(getattr(settings_like, "memory_max_sessions", None) or DEFAULT_MAX_SESSIONS)
    max_events = int(
        getattr(settings_like, "memory_max_session_events", None) or DEFAULT_MAX_SESSION_EVENTS
    )
    if not enabled or kind == "null":
        return NullMemory()
    if kind == "local":
        return LocalMemory(max_sessions, max_events)
    if kind == "redis":
        url = getattr(settings_like, "memory_redis_url", None)
        if not url:
            raise ValueError("MEMORY_REDIS_URL is required when MEMORY_TYPE=redis")
        agent = getattr(settings_like, "agent_name", None)
        prefix = f"kaos:memory:{agent}:" if agent else "kaos:memory:"
        password = getattr(settings_like, "memory_redis_password", None)
        if password is not None and hasattr(password, "get_secret_value"):
            password = password.get_secret_value()
        return RedisMemory(
            str(url),
            max_sessions=max_sessions,
            max_session_events=max_events,
            prefix=prefix,
            password=password,
        )
    raise ValueError(f"unknown MEMORY_TYPE {kind!r}; expected local, redis or null")
