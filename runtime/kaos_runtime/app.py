"""The agent's HTTP server: a Starlette app around the agentic loop.

`create_app(settings)` wires the parts together (model client, MCP connections, peers,
memory, metrics, readiness); the lifespan starts and stops them. Routes:

* `POST /v1/chat/completions`: OpenAI chat (streaming and not), see `chat_completions`;
* `GET /v1/models`, `/health`, `/ready`, `/metrics`;
* `GET /.well-known/agent.json` (+ `agent-card.json`, legacy `agent`): the A2A card;
* `POST /`: A2A JSON-RPC, served by a2a-sdk around the same loop (`a2a/`);
* `GET /memory/sessions`, `GET /memory/events?session_id=&limit=`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from kaos_contract import env as contract
from kaos_contract.version import kaosgen_version
from opentelemetry import propagate, trace
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import agent_card, ids, turns
from .budget import ModelCallBudget, parse_budget_header
from .client_gone import ClientGone, unless_gone
from .delegation import Delegation
from .loop import AgentLoop, Delta, Done, LoopEvent, LoopRequest, Progress, ToolModeSelector
from .mcp_clients import McpManager
from .memory import LocalMemory, Memory, MemoryBackendError, MemoryPaused, create_memory
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .model_client import Backend, ModelClient, ModelError, Usage
from .openai_api import (
    APIError,
    ChatRequest,
    ChunkWriter,
    JSONBody,
    completion,
    completion_id,
    parse_chat_request,
    text_of,
)
from .readiness import Readiness
from .settings import Settings
from .telemetry import make_tracer
from .tools import CallContext, Tool, ToolOutcome

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
KEEPALIVE_SECONDS = 15.0
CLIENT_TOOLS_HEADER = "X-KAOS-Client-Tools"
#: The status of a request whose client left before its answer (nginx's 499; in metrics only).
CLIENT_CLOSED_REQUEST = 499
_STREAM_END = object()
_CLIENT_GONE = object()


class Runtime:
    """Everything a request needs, built once per app."""

    def __init__(
        self, settings: Settings, memory: Memory | None = None, backend: Backend | None = None
    ):
        self.settings = settings
        self.metrics = Metrics(settings.agent_name)
        self.memory = memory if memory is not None else create_memory(settings)
        self.tracer, self._stop_tracing = make_tracer(settings)
        self.model = ModelClient(settings, backend, on_call=self._on_model_call, tracer=self.tracer)
        self.selector = ToolModeSelector(settings.tool_call_mode, settings.model_name)
        self.mcp = McpManager(
            settings.mcp_servers,
            refresh_seconds=settings.mcp_refresh_seconds,
            call_timeout=settings.tool_timeout_seconds,
        )
        self.delegation = Delegation(
            settings.peer_agents,
            context_limit=settings.memory_context_limit,
            max_depth=settings.delegation_max_depth,
            timeout=settings.delegation_timeout_seconds,
            refresh_seconds=settings.mcp_refresh_seconds,
        )
        self.readiness = Readiness(
            wait=settings.wait_for_dependencies,
            model_api_url=settings.model_api_url,
            mcp=self.mcp,
            memory_ping=self._memory_ping(),
            interval=min(1.0, settings.mcp_refresh_seconds),
        )
        self.mock_model = settings.debug_mock_responses is not None
        if self.mock_model:  # scripted replies (tests): no ModelAPI to wait for
            self.readiness.model_ok = True
        self.loop = AgentLoop(
            self.model,
            self.selector,
            settings.agentic_loop_max_steps,
            self._on_tool,
            tracer=self.tracer,
        )
        self.memory_on = settings.memory_enabled and settings.memory_type != "null"
        #: Whether a memory call waits for a store (Redis), rather than answering at once.
        self.memory_waits = self.memory_on and not isinstance(self.memory, LocalMemory)
        #: Chat requests prepare their model calls one at a time (see `turns.py`).
        self.turns = turns.Turns() if turns.NEEDED else None
        #: Work that outlives its request (recording an answer the client walked away from).
        self._background: set[asyncio.Task[Any]] = set()
        #: Per session, the memory write still going on that its later events wait for.
        self._writing: dict[str, asyncio.Task[None]] = {}

    def _memory_ping(self) -> Any:
        """Redis is a dependency to wait for; in-process memory is not."""
        if self.settings.memory_enabled and self.settings.memory_type == "redis":
            return getattr(self.memory, "ping", None)
        return None

    async def start(self) -> None:
        for warning in self.settings.startup_warnings:
            log.warning("%s", warning)
        if self.mock_model:
            log.warning(
                "DEBUG_MOCK_RESPONSES is set: the model API is never called, answers are "
                "scripted (for tests only)"
            )
        wait = self.settings.mcp_connect_timeout_seconds
        await self.model.warm_up()
        await asyncio.gather(self.mcp.start(wait), self.delegation.start(wait))
        self.readiness.start()
        log.info(
            "agent %s ready to serve: model %s at %s (%s client, tool mode %s), MCP servers %s, peers %s",
            self.settings.agent_name,
            self.settings.upstream_model,
            self.settings.model_api_base,
            self.settings.model_client,
            self.settings.tool_call_mode,
            sorted(self.settings.mcp_servers) or "none",
            sorted(self.settings.peer_agents) or "none",
        )

    def in_background(self, coro: Any) -> asyncio.Task[Any]:
        """Run `coro` to its end even though the request that started it is gone."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def stop(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self.readiness.stop()
        await asyncio.gather(self.mcp.stop(), self.delegation.stop(), return_exceptions=True)
        await self.model.close()
        await self.memory.close()
        await asyncio.to_thread(self._stop_tracing)  # flushes the spans not yet exported

    async def run(
        self,
        req: LoopRequest,
        parent: Any,
        attributes: dict[str, Any],
        span_name: str = "chat.completions",
    ) -> AsyncIterator[LoopEvent]:
        """The loop inside a server span (`chat.completions`, `a2a.message`) continuing the
        caller's trace."""
        if self.mock_model:
            from .model_mock import begin_request

            begin_request()
        with self.tracer.start_as_current_span(
            span_name, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
        ) as span:
            async for event in self.loop.run(req):
                if isinstance(event, Done):
                    span.set_attribute("gen_ai.usage.input_tokens", event.usage.prompt_tokens)
                    span.set_attribute("gen_ai.usage.output_tokens", event.usage.completion_tokens)
                    span.set_attribute("kaos.steps", event.steps)
                    span.set_attribute("kaos.limit_reached", event.limit_reached)
                    span.set_attribute("kaos.budget_reached", event.budget_reached)
                yield event

    def tools(self, depth: int) -> list[Tool]:
        return [*self.mcp.tools(), *self.delegation.tools(depth)]

    async def record(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None = None
    ) -> None:
        """Record a memory event; a memory outage is logged, never fails the request."""
        if not self.memory_on:
            return
        earlier = self._writing.get(session_id)
        if earlier is not None:  # the session's events stay in order (`record_meanwhile`)
            await asyncio.wait((earlier,))  # never cancels it, never raises
        await self._write(session_id, event_type, content, metadata)

    async def record_meanwhile(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None = None
    ) -> None:
        """Record an event without holding up the request, when memory is a store.

        In-process memory records at once (microseconds). A store (Redis) is written by a
        task of its own while the request goes on to its model call, and the session's
        later events (`record`) wait for that write: the user turn is still recorded before
        the answer, the error or a tool call, and also when the request fails or the
        client leaves.
        """
        if not self.memory_waits:
            await self.record(session_id, event_type, content, metadata)
            return
        earlier = self._writing.get(session_id)
        task = self.in_background(
            self._write_after(earlier, session_id, event_type, content, metadata)
        )
        self._writing[session_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._writing.get(session_id) is done:
                del self._writing[session_id]

        task.add_done_callback(forget)

    async def _write_after(
        self,
        earlier: asyncio.Task[None] | None,
        session_id: str,
        event_type: str,
        content: Any,
        metadata: dict | None,
    ) -> None:
        if earlier is not None:
            await asyncio.wait((earlier,))
        await self._write(session_id, event_type, content, metadata)

    async def _write(
        self, session_id: str, event_type: str, content: Any, metadata: dict | None
    ) -> None:
        if self.memory_waits:
            turns.pass_on()  # the next request need not wait for this one's memory store
        try:
            await self.memory.add_event(session_id, event_type, content, metadata)
        except Exception as exc:
            self._memory_failed(f"record {event_type} for", session_id, exc)

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        """The session's last MEMORY_CONTEXT_LIMIT turns (both APIs); a memory outage is
        logged and gives none, never fails the request."""
        if not self.memory_on or self.settings.memory_context_limit <= 0:
            return []
        if self.memory_waits:
            turns.pass_on()  # the next request need not wait for this one's memory store
        try:
            return await self.memory.get_messages(session_id, self.settings.memory_context_limit)
        except Exception as exc:
            self._memory_failed("load", session_id, exc)
            return []

    def _memory_failed(self, what: str, session_id: str, exc: Exception) -> None:
        self.metrics.errors.labels("memory").inc()
        log.log(
            logging.DEBUG if isinstance(exc, MemoryPaused) else logging.WARNING,
            "memory: could not %s session %s: %s",
            what,
            session_id,
            exc,
        )

    def _on_model_call(self, outcome: str, seconds: float, usage: Usage | None) -> None:
        self.metrics.model_calls.labels(outcome).inc()
        self.metrics.model_latency.observe(seconds)
        if usage is not None:
            self.metrics.tokens.labels("prompt").inc(usage.prompt_tokens)
            self.metrics.tokens.labels("completion").inc(usage.completion_tokens)

    def _on_tool(self, tool: Tool | None, name: str, outcome: ToolOutcome) -> None:
        result = "ok" if outcome.ok else "error"
        if tool is not None and tool.kind == "delegation":
            self.metrics.delegations.labels(tool.source, result).inc()
        else:
            self.metrics.tool_calls.labels(name if tool is not None else "(unknown)", result).inc()


# --- chat completions --------------------------------------------------------------------


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body: 413 as soon as it exceeds `limit` bytes, 408 unless it arrived
    within `timeout` seconds (a client trickling bytes must not hold a request forever)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body exceeds {limit} bytes", code="request_too_large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise APIError(
                        413, f"request body exceeds {limit} bytes", code="request_too_large"
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise APIError(
            408,
            f"request body did not arrive within {timeout:g}s (AGENT_REQUEST_READ_TIMEOUT_SECONDS)",
            code="request_timeout",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def valid_session_id(session_id: str) -> str:
    """A session id goes back in a response header and on to peers: one line, bounded."""
    if len(session_id) > 256:
        raise APIError(400, "session id longer than 256 characters", param="session_id")
    if not (session_id.isascii() and session_id.isprintable()):
        raise APIError(
            400,
            "session id must be printable ASCII, no control characters (it is sent back in "
            "the X-Session-ID header and on to peer agents)",
            param="session_id",
        )
    return session_id


def delegation_depth(request: Request, max_depth: int) -> int:
    raw = request.headers.get(contract.DELEGATION_DEPTH_HEADER)
    if raw is None:
        return 0
    try:
        depth = int(raw.strip())
    except ValueError:
        depth = -1
    if depth < 0:
        raise APIError(
            400,
            f"{contract.DELEGATION_DEPTH_HEADER} must be a non-negative integer",
            code="invalid_header",
        )
    if depth > max_depth:
        raise APIError(
            508,
            f"delegation refused: this request is hop {depth} of an agent-to-agent chain and "
            f"the limit is {max_depth} (DELEGATION_MAX_DEPTH); agents may be delegating in a loop",
            type="invalid_request_error",
            code="delegation_depth_exceeded",
        )
    return depth


def model_call_budget(request: Request, own_limit: int) -> ModelCallBudget:
    """This request's budget: MODEL_CALL_BUDGET, or less when a delegating peer says so."""
    try:
        return parse_budget_header(
            request.headers.get(contract.MODEL_CALL_BUDGET_HEADER), own_limit
        )
    except ValueError as exc:
        raise APIError(400, str(exc), code="invalid_header") from None


def trace_parent(request: Request) -> Any:
    """The caller's trace context, or None (the current one) when no header carries one.

    Skipping `propagate.extract` for requests without trace headers saves a pass over the
    headers per propagator; the header names are the configured propagators' own.
    """
    fields = {f.lower().encode("latin-1") for f in propagate.get_global_textmap().fields}
    if any(name in fields for name, _ in request.scope["headers"]):
        return propagate.extract(request.headers)
    return None


def _chat_message(message: dict[str, Any]) -> dict[str, Any]:
    if message.get("role") == "task-delegation":
        return {**message, "role": "user"}
    return message


def build_messages(
    instructions: str, client: list[dict[str, Any]], history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """System prompt (instructions + the client's leading system messages), history, the rest."""
    leading: list[str] = []
    index = 0
    while index < len(client) and client[index].get("role") in ("system", "developer"):
        leading.append(text_of(client[index].get("content")))
        index += 1
    system = "\n\n".join(part for part in (instructions.strip(), *leading) if part)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    return [*messages, *history, *(_chat_message(m) for m in client[index:])]


def conversation_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User/assistant text turns (what a peer gets as context when we delegate), as UTF-8
    can carry them: a lone surrogate (`\\ud800`, valid JSON in a request) becomes `?`."""
    result = []
    for message in messages:
        role = message.get("role")
        if role not in ("user", "assistant") or message.get("tool_calls"):
            continue
        text = text_of(message.get("content"))
        if not text.isascii():
            text = text.encode("utf-8", "replace").decode()
        if text:
            result.append({"role": role, "content": text})
    return result


async def chat_completions(request: Request) -> Response:
    """OpenAI chat completions, answered by the agentic loop.

    Session: `X-Session-ID` header, else `session_id` in the body, else a new one; always
    returned in the `X-Session-ID` response header. When the client sends only the new
    message (no earlier turns of its own), the session's earlier turns from memory (at most
    MEMORY_CONTEXT_LIMIT messages) are given to the model. The client's own `tools` are not
    executed by the agent (it runs its own tools): they are ignored and the response carries
    `X-KAOS-Client-Tools: ignored`.
    """
    rt: Runtime = request.app.state.runtime
    settings = rt.settings
    depth = delegation_depth(request, settings.delegation_max_depth)
    budget = model_call_budget(request, settings.model_call_budget)
    body = await read_body(
        request, settings.agent_max_body_bytes, settings.agent_request_read_timeout_seconds
    )
    if rt.turns is not None:
        await rt.turns.take()  # passed on as the model call is sent (ChatFastPath: at the end)
    req = parse_chat_request(body)

    session_id = valid_session_id(
        request.headers.get(contract.SESSION_HEADER) or req.session_id or ids.session_id()
    )
    headers = {contract.SESSION_HEADER: session_id}
    if req.tools:
        headers[CLIENT_TOOLS_HEADER] = "ignored"
        log.info("ignoring %d client-supplied tools (the agent runs its own tools)", len(req.tools))

    client_messages = req.messages_dicts
    turns = [m for m in client_messages if m.get("role") not in ("system", "developer")]
    history = await rt.history(session_id) if len(turns) <= 1 else []
    messages = build_messages(settings.agent_instructions, client_messages, history)

    last = client_messages[-1]
    if last.get("role") in ("user", "task-delegation"):
        metadata = {"delegation_depth": depth} if depth else None
        await rt.record_meanwhile(
            session_id, "user_message", text_of(last.get("content")), metadata
        )

    async def record(event_type: str, content: Any, metadata: dict | None) -> None:
        await rt.record(session_id, event_type, content, metadata)

    loop_request = LoopRequest(
        messages=messages,
        tools=rt.tools(depth),
        stream=req.stream,
        params=req.model_params(),
        context=CallContext(session_id, depth, conversation_of(messages)),
        record=record,
        budget=budget,
    )
    model_name = req.model or settings.agent_name
    parent = trace_parent(request)
    span_attributes = {
        "kaos.agent": settings.agent_name,
        "kaos.session_id": session_id,
        "kaos.delegation_depth": depth,
        "kaos.stream": req.stream,
        "kaos.tools": len(loop_request.tools),
    }
    rt.metrics.in_flight.inc()
    if req.stream:
        return await _stream(
            rt,
            req,
            loop_request,
            model_name,
            session_id,
            headers,
            parent,
            span_attributes,
            request.receive,
        )
    try:
        done = await unless_gone(
            _answer(rt, loop_request, parent, span_attributes), request.receive
        )
    except ClientGone:
        log.info("client left session %s before its answer; the request was cancelled", session_id)
        await rt.record(session_id, "agent_response", "", {"cancelled": True})
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    except ModelError as exc:
        raise await model_failure(rt, session_id, exc) from None
    except Exception as exc:
        rt.metrics.errors.labels("internal").inc()
        await rt.record(session_id, "error", f"internal error: {type(exc).__name__}: {exc}", None)
        raise
    finally:
        rt.metrics.in_flight.dec()
    rt.metrics.loop_steps.observe(done.steps)
    await rt.record(session_id, "agent_response", done.content, response_metadata(done))
    body = completion(
        completion_id(), model_name, done.content, done.usage.as_dict(), done.finish_reason
    )
    headers[contract.MODEL_CALLS_HEADER] = str(budget.used)  # what a delegating peer charges
    return JSONBody(body, headers=headers)


async def _answer(
    rt: Runtime, loop_request: LoopRequest, parent: Any, attributes: dict[str, Any]
) -> Done:
    """The loop run to its end (a plain request's answer)."""
    done = None
    async for event in rt.run(loop_request, parent, attributes):
        if isinstance(event, Done):
            done = event
    assert done is not None
    return done


def response_metadata(done: Done) -> dict[str, Any]:
    metadata: dict[str, Any] = {"steps": done.steps, "usage": done.usage.as_dict()}
    if done.limit_reached:
        metadata["limit_reached"] = True
    if done.budget_reached:
        metadata["budget_reached"] = True
    return metadata


async def model_failure(rt: Runtime, session_id: str, exc: ModelError) -> APIError:
    rt.metrics.errors.labels("model_timeout" if exc.status == 504 else "model_api").inc()
    log.warning("model API failure (session %s): %s", session_id, " ".join(exc.message.split()))
    await rt.record(session_id, "error", exc.message, {"status": exc.status, "code": exc.code})
    return APIError(
        exc.status, exc.message, code=exc.code, headers={contract.SESSION_HEADER: session_id}
    )


class _Failure:
    def __init__(self, error: APIError) -> None:
        self.error = error


async def _stream(
    rt: Runtime,
    req: ChatRequest,
    loop_request: LoopRequest,
    model_name: str,
    session_id: str,
    headers: dict[str, str],
    parent: Any,
    span_attributes: dict[str, Any],
    receive: Receive,
) -> Response:
    """SSE: chunks as the loop produces them, progress as comments, usage, `[DONE]`.

    The loop runs in its own task, so that the response can send keep-alive comments while
    a long tool call runs, and so that a model failure before anything was produced (within
    KEEPALIVE_SECONDS) is still answered with a proper 502/504 status instead of a 200
    stream. What it produces goes through an `_Outlet`: queued until the response started,
    then sent by the loop's task itself.
    """
    writer = ChunkWriter(completion_id(), model_name, req.include_usage)
    outlet = _Outlet()
    streamed: list[str] = []  # the answer so far, recorded if the client goes away

    async def produce() -> None:
        answered = False
        try:
            async for event in rt.run(loop_request, parent, span_attributes):
                if isinstance(event, Delta):
                    streamed.append(event.text)
                    await outlet.put(writer.content(event.text))
                elif isinstance(event, Progress):
                    await outlet.put(writer.comment(event.kind, event.data))
                elif isinstance(event, Done):
                    answered = True
                    rt.metrics.loop_steps.observe(event.steps)
                    await rt.record(
                        session_id, "agent_response", event.content, response_metadata(event)
                    )
                    end = [writer.finish(event.finish_reason)]
                    if req.include_usage:
                        end.append(writer.usage(event.usage.as_dict()))
                    end.append(ChunkWriter.DONE)
                    await outlet.put(b"".join(end))
        except ModelError as exc:
            await outlet.put(_Failure(await model_failure(rt, session_id, exc)))
        except asyncio.CancelledError:
            if not answered:  # the client went away: the session keeps what it was told
                partial = "".join(streamed)
                log.info("client left session %s mid-answer; partial answer recorded", session_id)
                rt.in_background(
                    rt.record(session_id, "agent_response", partial, {"cancelled": True})
                )
            raise
        except Exception as exc:
            log.exception("chat completion failed")
            rt.metrics.errors.labels("internal").inc()
            await rt.record(session_id, "error", f"internal error: {exc}", None)
            await outlet.put(
                _Failure(APIError(500, f"internal error: {type(exc).__name__}: {exc}"))
            )
        finally:
            rt.metrics.in_flight.dec()
            outlet.queue.put_nowait(_STREAM_END)

    task = asyncio.create_task(produce())
    # From here on, a client that goes away stops the loop (also before the first token).
    listener = asyncio.ensure_future(_disconnected(receive, outlet.queue))
    try:  # a quick failure gets a real status; a slow first token must not hold the headers
        async with asyncio.timeout(KEEPALIVE_SECONDS):  # no task per wait, as wait_for makes
            first = await outlet.queue.get()
    except TimeoutError:
        first = ChunkWriter.KEEPALIVE
    except BaseException:
        listener.cancel()
        raise
    if isinstance(first, _Failure) or first is _CLIENT_GONE:
        listener.cancel()
        if first is _CLIENT_GONE:
            task.cancel()  # its answer so far (none) is recorded as cut short
        await asyncio.wait((task,))
        if isinstance(first, _Failure):
            return first.error.response()
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    stream_headers = {**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStream(writer.role(), first, outlet, task, listener, stream_headers)


class _Outlet:
    """Where the loop's task puts what its client gets.

    Until the response has started, items wait in `queue` (the first one decides the
    status). Once `EventStream` has sent them, it hands over the client's `send`, and the
    loop's task sends each chunk as it is produced: no queue, no task switch and no extra
    pass of the event loop per token. `queue` then carries only the end of the stream and
    the client going away.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.send: Send | None = None
        self.loop = asyncio.get_running_loop()
        self.sent_at = 0.0  # loop time of the last chunk sent (keep-alive comments: when idle)

    async def put(self, item: bytes | _Failure) -> None:
        send = self.send
        if send is None:
            self.queue.put_nowait(item)
            return
        self.sent_at = self.loop.time()
        await send({"type": "http.response.body", "body": _body(item), "more_body": True})


def _body(item: bytes | _Failure) -> bytes:
    """A failure after the response started: an error event, then `[DONE]`."""
    if isinstance(item, _Failure):
        return ChunkWriter.error(item.error) + ChunkWriter.DONE
    return item


class EventStream(Response):
    """The SSE body of `_stream`, written to the ASGI `send` directly.

    Not `StreamingResponse`, whose anyio task group cost a tenth of a stream's CPU. At the
    start, what the loop's task queued goes out as one message (the role and the first
    content together); then the loop's task sends itself (`_Outlet`), and this one only
    ends the body, or sends a keep-alive comment when nothing was sent for
    KEEPALIVE_SECONDS. A client that goes away is noticed by a small task waiting for
    `http.disconnect`, which stops the loop's task (its answer so far is recorded).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        role: bytes,
        first: Any,
        outlet: _Outlet,
        task: asyncio.Task[None],
        listener: asyncio.Future[None],
        headers: dict[str, str],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(headers)
        self.role = role
        self.first = first
        self.outlet = outlet
        self.task = task
        self.listener = listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outlet = self.outlet
        queue = outlet.queue
        listener = self.listener
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            pending = [self.role]
            item = self.first
            while True:  # what is queued goes out as one message, until nothing is left
                while item is not _STREAM_END and item is not _CLIENT_GONE:
                    pending.append(_body(item))
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if item is _CLIENT_GONE:
                    return
                ended = item is _STREAM_END
                body = b"".join(pending)
                await send({"type": "http.response.body", "body": body, "more_body": not ended})
                if ended:
                    return
                if queue.empty():
                    break
                pending = []
                item = queue.get_nowait()
            outlet.send = send  # from here on, the loop's task sends (no await since empty)
            outlet.sent_at = outlet.loop.time()
            while True:
                idle = outlet.loop.time() - outlet.sent_at
                if idle >= KEEPALIVE_SECONDS:
                    outlet.sent_at = outlet.loop.time()
                    body = ChunkWriter.KEEPALIVE
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    continue
                try:
                    async with asyncio.timeout(KEEPALIVE_SECONDS - idle):  # no task per wait
                        item = await queue.get()
                except TimeoutError:
                    continue
                if item is _STREAM_END:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                if item is _STREAM_END or item is _CLIENT_GONE:
                    return
        finally:
            outlet.send = None
            listener.cancel()
            if not self.task.done():
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task


async def _disconnected(receive: Receive, queue: asyncio.Queue[Any]) -> None:
    """Tell the stream when its client goes away (`http.disconnect`)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    queue.put_nowait(_CLIENT_GONE)


# --- the other endpoints ------------------------------------------------------------------


async def models(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    model = {
        "id": rt.settings.agent_name,
        "object": "model",
        "created": 0,
        "owned_by": "kaos-agent",
    }
    return JSONBody({"object": "list", "data": [model]})


async def health(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return JSONBody({"status": "ok", "agent": rt.settings.agent_name, "version": kaosgen_version()})


async def ready(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    status, body = rt.readiness.status()
    body["agent"] = rt.settings.agent_name
    body["mcp_servers"] = rt.mcp.status()
    return JSONBody(body, status_code=status)


async def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def card(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    url = agent_card.base_url(rt.settings, request)
    return JSONBody(agent_card.build_card(rt.settings, url, rt.tools(0)))


async def a2a_jsonrpc(request: Request) -> Response:
    """A2A JSON-RPC (`message/send`, `message/stream`, `tasks/*`): see `a2a/server.py`."""
    return await request.app.state.a2a.endpoint(request)


def _limit(request: Request, default: int = 100, maximum: int = 10000) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise APIError(400, f"'limit' must be an integer between 1 and {maximum}", param="limit")
    return value


async def memory_sessions(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    sessions = await rt.memory.list_sessions()
    return JSONBody({"agent": rt.settings.agent_name, "sessions": sessions, "total": len(sessions)})


async def memory_events(request: Request) -> Response:
    """A session's events (oldest first, the last `limit`); all sessions' when none is given."""
    rt: Runtime = request.app.state.runtime
    limit = _limit(request)
    session_id = request.query_params.get("session_id")
    if session_id:
        if not await rt.memory.has_session(session_id):
            raise APIError(
                404,
                f"no session {session_id!r} in memory",
                param="session_id",
                code="session_not_found",
            )
        events = await rt.memory.get_events(session_id, limit)
    else:
        events = []
        for session in await rt.memory.list_sessions():
            events.extend(await rt.memory.get_events(session["session_id"], limit))
            if len(events) >= limit:
                break
        events.sort(key=lambda e: str(e.get("timestamp")))
        events = events[-limit:]
    body = {
        "agent": rt.settings.agent_name,
        "session_id": session_id,
        "events": events,
        "total": len(events),
    }
    return JSONBody(body)


# --- errors and metrics middleware ---------------------------------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return APIError(exc.status_code, message, headers=dict(exc.headers or {})).response()


async def _memory_error(request: Request, exc: Exception) -> Response:
    """The memory store failed under `/memory/...`: 502, 504 when it did not answer in
    time, 503 while it is not called (its cool-down); a warning, not a traceback."""
    assert isinstance(exc, MemoryBackendError)
    status = 503 if isinstance(exc, MemoryPaused) else 504 if exc.timed_out else 502
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    rt: Runtime = request.app.state.runtime
    rt.metrics.errors.labels("memory").inc()
    return APIError(status, str(exc), code="memory_unavailable").response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return APIError(500, f"internal error: {type(exc).__name__}").response()


class ChatFastPath:
    """`POST /v1/chat/completions` straight to its handler.

    Every other request goes on through Starlette's exception middleware and router. This
    one route takes nearly all the traffic, and those layers (two exception wrappers, the
    route match, the request/response adapter, each wrapping `send` again) were a tenth of
    its CPU (bench/runtime.py). Errors are answered the same way: `APIError` and
    `HTTPException` here, anything else by Starlette's `ServerErrorMiddleware` outside.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await chat_completions(request)
        except APIError as exc:
            response = exc.response()
        except HTTPException as exc:
            response = await _http_error(request, exc)
        finally:
            turns.pass_on()  # a request that ended before its model call
        await response(scope, receive, send)


class MetricsMiddleware:
    """Counts requests and observes latency (to the end of the body) per route."""

    def __init__(self, app: ASGIApp, metrics_of: Any, routes: set[str]) -> None:
        self.app = app
        self.metrics_of = metrics_of
        self.routes = routes
        #: Labelled children, looked up once per (route, method, status).
        self._series: dict[tuple[str, str, int], tuple[Any, Any, Metrics]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics: Metrics | None = self.metrics_of()
            if metrics is not None:
                path = scope["path"]
                route = path if path in self.routes else "other"
                key = (route, scope["method"], status)
                series = self._series.get(key)
                if series is None or series[2] is not metrics:
                    series = (
                        metrics.requests.labels(route, scope["method"], str(status)),
                        metrics.latency.labels(route),
                        metrics,
                    )
                    self._series[key] = series
                series[0].inc()
                series[1].observe(time.perf_counter() - started)


def create_app(
    settings: Settings, *, memory: Memory | None = None, backend: Backend | None = None
) -> Starlette:
    runtime_holder: dict[str, Runtime] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from .a2a.server import A2AServer  # imports this module: only once it is loaded

        runtime = Runtime(settings, memory=memory, backend=backend)
        app.state.runtime = runtime
        app.state.a2a = A2AServer(runtime)
        runtime_holder["rt"] = runtime
        await runtime.start()
        try:
            yield
        finally:
            await app.state.a2a.close()  # running tasks end first (they use the runtime)
            await runtime.stop()

    routes = [
        Route(CHAT_PATH, chat_completions, methods=["POST"]),  # served by ChatFastPath
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/.well-known/agent.json", card, methods=["GET"]),
        Route("/.well-known/agent-card.json", card, methods=["GET"]),
        Route("/.well-known/agent", card, methods=["GET"]),
        Route("/memory/sessions", memory_sessions, methods=["GET"]),
        Route("/memory/events", memory_events, methods=["GET"]),
        Route("/", a2a_jsonrpc, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            APIError: _api_error,
            HTTPException: _http_error,
            MemoryBackendError: _memory_error,
            Exception: _internal_error,
        },
    )
    app.add_middleware(ChatFastPath)  # type: ignore[arg-type]
    app.add_middleware(  # added last: outside ChatFastPath, so it counts every request
        MetricsMiddleware,  # type: ignore[arg-type]
        metrics_of=lambda: runtime_holder["rt"].metrics if "rt" in runtime_holder else None,
        routes={r.path for r in routes},
    )
    return app
