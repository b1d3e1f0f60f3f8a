"""MCP servers as tool sources: one long-lived fastmcp client per server.

Each server gets a `McpConnection` whose background task owns the client session (MCP's
streamable HTTP at `<url>/mcp`): it connects, lists the tools, then keeps the session open
and refreshes the tool list every `MCP_REFRESH_SECONDS`. Tool calls from any request reuse
that one session (KAOS opened a connection per call). When a call or a refresh fails, the
server's tools disappear from the agent's tool list and the task reconnects with backoff,
so a server that is down never stops the agent from answering.

What a server answers a request with is bounded (`MAX_MCP_ANSWER_BYTES`): the MCP SDK reads
a JSON answer whole, and a server that sends without end would otherwise grow the agent's
memory until `TOOL_TIMEOUT_SECONDS` ends the call. So is the number of objects in a JSON
answer (`MAX_MCP_ANSWER_OBJECTS`), which the SDK validates in the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import time
from typing import Any

import httpx2  # the MCP SDK's HTTP client
from kaos_contract import env as contract

from . import json_count, mcp_logs
from .mcp_logs import AnswerTooLarge
from .model_answers import MAX_ANSWER_BYTES, bounded_pieces
from .tool_schemas import model_schema
from .tools import CallContext, Tool, ToolOutcome

log = logging.getLogger(__name__)

#: The most one answer of an MCP server (to one POST) may take: a tool result goes to the
#: model, bounded like a model's answer.
MAX_MCP_ANSWER_BYTES = MAX_ANSWER_BYTES
#: The most JSON objects one answer may hold: the SDK validates them in the event loop, a
#: few microseconds each (a list of a million content blocks held the loop for 20 s).
MAX_MCP_ANSWER_OBJECTS = 50_000
#: Answers up to this size are not counted: they cannot hold many more objects than that.
CHECKED_FROM_BYTES = 64 * 1024


class McpConnection:
    """One MCP server: its session, its current tools, and whether it is up."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        refresh_seconds: float,
        call_timeout: float,
    ) -> None:
        self.name = name
        self.url = base_url.rstrip("/") + contract.MCP_PATH
        self.refresh_seconds = refresh_seconds
        self.call_timeout = call_timeout
        self.tools: list[Any] = []  # mcp_types.Tool
        self.up = False
        self.last_error: str | None = None
        self.attempts = 0
        self.first_attempt = asyncio.Event()
        self._client: Any = None
        self._broken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"mcp:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _mark_down(self, error: BaseException | str) -> None:
        # One line (a pydantic error spans many): the log, /ready and tool errors show it.
        message = error if isinstance(error, str) else mcp_logs.one_line(error)
        if self.up or self.last_error != message:
            log.warning("MCP server %s (%s) unavailable: %s", self.name, self.url, message)
        self.up = False
        self.tools = []
        self._client = None
        self.last_error = message

    async def _run(self) -> None:
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        backoff = 0.5
        while True:
            self.attempts += 1
            self._broken.clear()
            try:
                client = Client(
                    StreamableHttpTransport(
                        self.url,
                        httpx_client_factory=functools.partial(_bounded_http_client, self.name),
                    ),
                    timeout=self.call_timeout,
                    init_timeout=min(10.0, self.refresh_seconds * 2),
                )
                async with client:
                    tools = await client.list_tools()
                    self._client, self.tools, self.up = client, tools, True
                    self.last_error = None
                    backoff = 0.5
                    log.info("MCP server %s: %d tools", self.name, len(tools))
                    self.first_attempt.set()
                    while True:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._broken.wait(), self.refresh_seconds)
                        if self._broken.is_set():
                            raise ConnectionError(self.last_error or "a tool call failed")
                        self.tools = await client.list_tools()
            except asyncio.CancelledError:
                self._client, self.up = None, False
                raise
            except BaseException as exc:  # anyio ExceptionGroups included
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                self._mark_down(_root_cause(exc))
            self.first_attempt.set()
            await asyncio.sleep(min(backoff, self.refresh_seconds))
            backoff = min(backoff * 2, 30.0)

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        client = self._client
        if client is None or not self.up:
            return ToolOutcome(False, f"MCP server {self.name} is unavailable: {self.last_error}")
        try:
            result = await asyncio.wait_for(
                client.call_tool_mcp(tool, arguments), timeout=self.call_timeout
            )
        except TimeoutError:
            return ToolOutcome(False, f"tool {tool} timed out after {self.call_timeout:g}s")
        except Exception as exc:
            cause = _root_cause(exc)
            if _is_protocol_error(cause):  # the server answered: the session is fine
                return ToolOutcome(False, str(cause) or type(cause).__name__)
            invalid = _invalid_result(cause)
            if invalid is not None:  # so did this one, with a result that is not MCP
                log.warning("MCP server %s: invalid result for %s: %s", self.name, tool, invalid)
                return ToolOutcome(
                    False, f"MCP server {self.name} sent an invalid result for {tool}: {invalid}"
                )
            self._mark_down(cause)
            self._broken.set()
            return ToolOutcome(False, f"MCP server {self.name} failed: {cause}")
        return ToolOutcome(not result.is_error, _result_text(result))


def _bounded_http_client(
    server: str, *, headers: Any = None, timeout: Any = None, auth: Any = None, **_: Any
) -> Any:
    """The MCP SDK's own HTTP client (its timeouts; redirects left to the transport, as
    without a factory), each POST's answer cut off past `MAX_MCP_ANSWER_BYTES`."""
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def bound_answer(response: httpx2.Response) -> None:
        """A response hook (before the body is read). Not the session's GET, a stream that
        lasts as long as the session: its events are bounded one by one by the SDK."""
        if response.request.method == "POST":
            assert isinstance(response.stream, httpx2.AsyncByteStream)
            whole = response.headers.get("content-type", "").lower().startswith("application/json")
            response.stream = _BoundedStream(response.stream, MAX_MCP_ANSWER_BYTES, server, whole)

    client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
    client.event_hooks.setdefault("response", []).append(bound_answer)
    return client


class _BoundedStream(httpx2.AsyncByteStream):
    """An httpx2 response stream that stops past `limit` bytes with a `StreamError`, which
    the SDK answers the waiting call with (a protocol error: the session is kept). A JSON
    answer (`whole`, which the SDK reads whole anyway) over `CHECKED_FROM_BYTES` must also
    hold at most `MAX_MCP_ANSWER_OBJECTS` objects (see `json_count`). The agent logs a
    refusal in one line (`mcp_logs` drops the SDK's traceback of it)."""

    def __init__(
        self, inner: httpx2.AsyncByteStream, limit: int, server: str, whole: bool = False
    ) -> None:
        self.inner = inner
        self.limit = limit
        self.server = server
        self.whole = whole

    def _refused(self, what: str) -> AnswerTooLarge:
        log.warning("MCP server %s: an answer %s, not read further", self.server, what)
        return AnswerTooLarge(f"answer {what}, not read further")

    def __aiter__(self) -> Any:
        pieces = bounded_pieces(
            self.inner, self.limit, lambda: self._refused(f"over {self.limit} bytes")
        )
        return self._counted(pieces) if self.whole else pieces

    async def _counted(self, pieces: Any) -> Any:
        body = b"".join([piece async for piece in pieces])
        if len(body) > CHECKED_FROM_BYTES and await json_count.exceeds_off_loop(
            body, MAX_MCP_ANSWER_OBJECTS
        ):
            raise self._refused(f"holding over {MAX_MCP_ANSWER_OBJECTS} JSON objects")
        yield body

    async def aclose(self) -> None:
        await self.inner.aclose()


def _is_protocol_error(exc: BaseException) -> bool:
    """An error the server sent over a live session (not a transport failure)."""
    from mcp.shared.exceptions import MCPError
    from mcp_types.jsonrpc import CONNECTION_CLOSED

    return isinstance(exc, MCPError) and exc.code != CONNECTION_CLOSED


def _invalid_result(exc: BaseException) -> str | None:
    """One line saying why a result did not validate (None: `exc` is not that).

    The client validates a call's result after reading it whole: the server answered and
    its session is fine, so this is one call's error, not a reason to drop the server.
    """
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    return mcp_logs.one_line(exc)


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _result_text(result: Any) -> str:
    """An MCP tool result as text for the model (text blocks, else structured JSON)."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            parts.append(
                getattr(resource, "text", None) or f"[resource {getattr(resource, 'uri', '')}]"
            )
        else:
            parts.append(f"[{kind or 'non-text'} content omitted]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


class McpManager:
    """All configured MCP servers; `tools()` is the current, de-duplicated tool list."""

    def __init__(self, servers: dict[str, str], *, refresh_seconds: float, call_timeout: float):
        if servers:
            mcp_logs.install()  # the SDK's tracebacks of unreadable answers: one line each
        self.connections = {
            name: McpConnection(
                name, url, refresh_seconds=refresh_seconds, call_timeout=call_timeout
            )
            for name, url in servers.items()
        }
        self._cache_key: tuple[Any, ...] = ()
        self._cache: list[Tool] = []
        #: What was said about tools not offered (once each, not at every refresh).
        self._said: set[tuple[str, str, str]] = set()

    async def start(self, wait: float) -> None:
        """Start every connection and wait up to `wait` seconds for the first discovery."""
        for connection in self.connections.values():
            connection.start()
        if self.connections and wait > 0:
            waits = [c.first_attempt.wait() for c in self.connections.values()]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), wait)

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.connections.values()))

    def all_up(self) -> bool:
        return all(c.up for c in self.connections.values())

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"url": c.url, "up": c.up, "tools": len(c.tools), "error": c.last_error}
            for name, c in self.connections.items()
        }

    def tools(self) -> list[Tool]:
        key = tuple((name, c.up, id(c.tools)) for name, c in self.connections.items())
        if key != self._cache_key:
            self._cache, self._cache_key = self._build_tools(), key
        return self._cache

    def _build_tools(self) -> list[Tool]:
        """Every server's tools under names a model API takes (`model_tool_name`); a name
        on two servers is qualified with the server's (`calc__add`), a name one server
        lists twice is offered once."""
        entries: list[tuple[str, McpConnection, Any, str, dict[str, Any]]] = []
        for name, connection in self.connections.items():
            listed: set[str] = set()
            for tool in connection.tools:
                if tool.name in listed:
                    self._say(name, tool.name, "it is listed twice; offered once")
                    continue
                listed.add(tool.name)
                schema, why_not = model_schema(tool.input_schema)
                if schema is None:
                    self._say(name, tool.name, f"not offered: {why_not}")
                    continue
                entries.append((name, connection, tool, model_tool_name(tool.name), schema))
        counts: dict[str, int] = {}
        for _, _, _, base, _ in entries:
            counts[base] = counts.get(base, 0) + 1
        result, used = [], set()
        for name, connection, tool, base, schema in entries:
            exposed = base
            if counts[base] > 1:  # the same tool name on two servers: qualify both
                exposed = model_tool_name(f"{contract.snake(name)}__{tool.name}")
            if exposed in used:  # two names of one server made alike (`a.b`, `a_b`)
                exposed = _with_digest(exposed, tool.name)
            used.add(exposed)
            result.append(_make_tool(connection, tool, exposed, schema))
        return result

    def _say(self, server: str, tool: str, what: str) -> None:
        if (server, tool, what) not in self._said:
            self._said.add((server, tool, what))
            log.warning("MCP server %s: tool %r: %s", server, tool, what)


#: A function name as OpenAI's API takes it (Anthropic's and Ollama's take these too): one
#: tool named otherwise (MCP allows `.`, for one) fails every request with 400.
_MODEL_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def model_tool_name(name: str) -> str:
    """`name` where a model API takes it as it is, else with every other character as `_`
    and, over 64 characters, cut with a digest of the whole name."""
    if _MODEL_TOOL_NAME.fullmatch(name):
        return name
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", name) or "tool"
    return clean if len(clean) <= 64 else _with_digest(clean, name)


def _with_digest(name: str, original: str) -> str:
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name[:55]}_{digest}"


def _make_tool(connection: McpConnection, tool: Any, exposed: str, schema: dict[str, Any]) -> Tool:
    mcp_name = tool.name

    async def call(arguments: dict[str, Any], ctx: CallContext) -> ToolOutcome:
        started = time.perf_counter()
        outcome = await connection.call(mcp_name, arguments)
        log.debug("tool %s/%s took %.3fs", connection.name, mcp_name, time.perf_counter() - started)
        return outcome

    return Tool(
        name=exposed,
        description=(tool.description or tool.name).strip(),
        parameters=schema,
        kind="mcp",
        source=connection.name,
        call=call,
    )
