"""The agentic loop: model call, tool calls, model call ... until an answer or the step limit.

`AgentLoop.run` is an async generator of events, so the HTTP layer can stream the answer
while the model is still writing it:

* `Delta(text)`: answer text, as the model produces it (streaming requests only);
* `Progress(kind, data)`: a tool call, a tool result, a delegation (SSE comments);
* `Done(content, usage, ...)`: the final answer and the usage summed over every model call.

A step is one model call (AGENTIC_LOOP_MAX_STEPS bounds them, and so does the request's
`ModelCallBudget`, shared with the peers it delegates to). The tool calls of one step run
concurrently; a failing tool becomes a tool result the model reads, not a failure of the
request. Model failures raise `ModelError` (the HTTP layer answers 502/504).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from .budget import ModelCallBudget, budget_message
from .model_client import (
    ModelClient,
    ModelError,
    ModelTurn,
    ToolCallRequest,
    Usage,
    model_supports_tools,
    new_call_id,
)
from .openai_api import text_of
from .tools import (
    CallContext,
    StringModeParser,
    Tool,
    ToolOutcome,
    loads_arguments,
    openai_tools,
    parse_arguments,
    string_mode_prompt,
    string_mode_result,
)

log = logging.getLogger(__name__)

PREVIEW_CHARS = 500
#: Tool calls run in one step; a model asking for more (an answer of 32 MiB can ask for
#: 400,000) would otherwise hold the event loop, every other user's requests and the
#: health probes with it, for minutes. The others get a result saying they were not run.
MAX_TOOL_CALLS_PER_STEP = 64
#: Of each tool result, in the answer given when the model-call budget is spent.
PROGRESS_CHARS = 2000


@dataclass
class Delta:
    text: str


@dataclass
class Progress:
    kind: str  # tool_call | tool_result | delegation_request | delegation_response | step
    data: dict[str, Any]


@dataclass
class Done:
    content: str
    usage: Usage
    steps: int
    finish_reason: str = "stop"
    limit_reached: bool = False
    budget_reached: bool = False


LoopEvent = Delta | Progress | Done
Recorder = Callable[[str, Any, dict[str, Any] | None], Awaitable[None]]


def limit_message(steps: int) -> str:
    return (
        f"I could not finish this request: I reached the limit of {steps} reasoning steps "
        "(AGENTIC_LOOP_MAX_STEPS) before arriving at a final answer."
    )


class ToolModeSelector:
    """Native or string tool calling, per TOOL_CALL_MODE; `auto` learns from rejections."""

    def __init__(self, configured: str, model_name: str) -> None:
        self.configured = configured
        self.known = model_supports_tools(model_name) if configured == "auto" else None
        self.fell_back = False
        if configured == "auto":
            log.info(
                "tool calling for %s: %s",
                model_name,
                {
                    True: "native",
                    False: "string (model cannot call tools)",
                    None: "native, string if rejected",
                }[self.known],
            )

    def mode(self) -> str:
        if self.configured != "auto":
            return self.configured
        return "string" if self.fell_back or self.known is False else "native"

    def can_fall_back(self) -> bool:
        return self.configured == "auto" and self.mode() == "native"

    def fall_back(self, reason: str, *, for_good: bool) -> None:
        """Use string mode from now on (`for_good`), or for the current request only."""
        if for_good:
            log.warning(
                "the model API rejected native tool calling (%s); using string mode", reason
            )
            self.fell_back = True
        else:
            log.warning(
                "the model API rejected native tool calling for one request (%s); that "
                "request goes on in string mode",
                reason,
            )


@dataclass
class LoopRequest:
    messages: list[dict[str, Any]]
    tools: list[Tool]
    stream: bool
    params: dict[str, Any] = field(default_factory=dict)
    context: CallContext = field(default_factory=lambda: CallContext("", 0))
    record: Recorder | None = None
    #: Model calls this request may make, its delegations included (None: no bound).
    budget: ModelCallBudget | None = None


class AgentLoop:
    def __init__(
        self,
        model: ModelClient,
        selector: ToolModeSelector,
        max_steps: int,
        on_tool: Callable[[Tool | None, str, ToolOutcome], None] | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.model = model
        self.selector = selector
        self.max_steps = max_steps
        self._on_tool = on_tool or (lambda tool, name, outcome: None)
        self.tracer = tracer or trace.get_tracer(__name__)

    async def run(self, req: LoopRequest) -> AsyncIterator[LoopEvent]:
        tools = {tool.name: tool for tool in req.tools}
        mode = self.selector.mode() if tools else "none"
        messages = self._prepare(req.messages, req.tools, mode)
        usage = Usage()
        budget = req.budget or ModelCallBudget(sys.maxsize)
        progress: list[str] = []  # what the last step produced: the answer if the budget ends
        streamed = False  # whether answer text was already streamed (steps are separated)
        for step in range(1, self.max_steps + 1):
            if not budget.take():
                text = budget_message(budget.limit, progress)
                if req.stream:
                    yield Delta(("\n\n" if streamed else "") + text)
                yield Done(text, usage, step - 1, "stop", budget_reached=True)
                return
            if step > 1:
                yield Progress("step", {"step": step})
            turn: ModelTurn | None = None
            separate = streamed
            attempt = 0
            while turn is None:
                try:
                    async for item in self._call(messages, req.tools, mode, req):
                        if isinstance(item, ModelTurn):
                            turn = item
                            continue
                        if separate:
                            separate = False
                            yield Delta("\n\n")
                        streamed = True
                        yield Delta(item)
                except ModelError as exc:
                    fallback = (
                        mode == "native" and exc.rejects_tools and self.selector.can_fall_back()
                    )
                    if not fallback or attempt > 0 or streamed:
                        raise
                    # Only a 4xx (or 501) to a request without tool calls or results says
                    # what the model cannot do: one carrying some may have been rejected
                    # for those (OpenAI: a call without its result), and a 500 is a failure
                    # of that answer (Ollama: "error parsing tool call" its model wrote).
                    history = any(
                        m.get("tool_calls") or m.get("role") in ("tool", "function")
                        for m in messages
                    )
                    for_good = not history and exc.upstream_status != 500
                    self.selector.fall_back(exc.message, for_good=for_good)
                    budget.charge(1)  # the rejected call reached the model API too
                    mode = "string"
                    done = [_plain(m) for m in messages[len(req.messages) :]]
                    messages = self._prepare(req.messages, req.tools, mode) + done
                    attempt += 1
            usage.add(turn.usage)
            _unique_ids(turn.tool_calls)
            if not turn.tool_calls:
                yield Done(turn.content, usage, step, _finish(turn.finish_reason))
                return
            if step == self.max_steps:
                break
            messages.append(self._assistant_message(turn, mode))
            progress = [turn.content.strip()] if turn.content.strip() else []
            async for event in self._run_tools(
                turn.tool_calls, tools, req, messages, mode, budget, progress
            ):
                yield event
        text = limit_message(self.max_steps)
        if req.stream:
            yield Delta(("\n\n" if streamed else "") + text)
        yield Done(text, usage, self.max_steps, "stop", limit_reached=True)

    # -- model calls ----------------------------------------------------------------------
    def _prepare(
        self, messages: list[dict[str, Any]], tools: list[Tool], mode: str
    ) -> list[dict[str, Any]]:
        if mode != "string":
            return [dict(m) for m in messages]
        prompt = string_mode_prompt(tools)
        result = [_plain(m) for m in messages]
        if result and result[0]["role"] == "system":
            result[0] = {"role": "system", "content": f"{result[0]['content']}\n\n{prompt}".strip()}
        else:
            result.insert(0, {"role": "system", "content": prompt})
        return result

    async def _call(
        self, messages: list[dict[str, Any]], tools: list[Tool], mode: str, req: LoopRequest
    ) -> AsyncIterator[str | ModelTurn]:
        native = openai_tools(tools) if mode == "native" else None
        if not req.stream:
            turn = await self.model.complete(messages, native, req.params)
            if mode == "string":
                parser = StringModeParser()
                turn.content = parser.feed(turn.content) + parser.finish()
                turn.tool_calls = parser.calls
            yield turn
            return
        parser = StringModeParser() if mode == "string" else None
        raw: list[str] = []
        async for item in self.model.stream(messages, native, req.params):
            if isinstance(item, ModelTurn):
                if parser is not None:
                    tail = parser.finish()
                    if tail:
                        yield tail
                    item.content = "".join(raw) + tail
                    item.tool_calls = parser.calls
                yield item
                return
            if parser is None:
                yield item
                continue
            visible = parser.feed(item)
            if visible:
                raw.append(visible)
                yield visible

    @staticmethod
    def _assistant_message(turn: ModelTurn, mode: str) -> dict[str, Any]:
        if mode == "string":
            calls = "\n".join(
                "```json\n"
                + json.dumps(
                    {"tool": c.name, "arguments": _loads_or_raw(c.arguments)}, ensure_ascii=False
                )
                + "\n```"
                for c in turn.tool_calls
            )
            return {"role": "assistant", "content": f"{turn.content.strip()}\n{calls}".strip()}
        return {
            "role": "assistant",
            "content": turn.content or "",  # never null: llama.cpp rejects it
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments or "{}"},
                }
                for c in turn.tool_calls
            ],
        }

    # -- tools ----------------------------------------------------------------------------
    async def _run_tools(
        self,
        calls: list[ToolCallRequest],
        tools: dict[str, Tool],
        req: LoopRequest,
        messages: list[dict[str, Any]],
        mode: str,
        budget: ModelCallBudget,
        progress: list[str],
    ) -> AsyncIterator[LoopEvent]:
        results: dict[str, ToolOutcome] = {}
        if len(calls) > MAX_TOOL_CALLS_PER_STEP:
            log.warning(
                "the model asked for %d tool calls in one step; running the first %d",
                len(calls),
                MAX_TOOL_CALLS_PER_STEP,
            )
            not_run = ToolOutcome(
                False,
                f"not run: this step asked for {len(calls)} tool calls and at most "
                f"{MAX_TOOL_CALLS_PER_STEP} run in one step; ask for the others in the next step",
            )
            results = {call.id: not_run for call in calls[MAX_TOOL_CALLS_PER_STEP:]}
        answered = calls  # every call gets a result message (OpenAI requires one per call)
        calls = calls[:MAX_TOOL_CALLS_PER_STEP]
        for call in calls:
            tool = tools.get(call.name)
            args_preview = _loads_or_raw(call.arguments)
            if tool is not None and tool.kind == "delegation":
                yield Progress(
                    "delegation_request",
                    {"id": call.id, "peer": tool.source, "arguments": args_preview},
                )
                await _record(
                    req,
                    "delegation_request",
                    args_preview,
                    {"peer": tool.source, "tool_call_id": call.id},
                )
            else:
                yield Progress(
                    "tool_call", {"id": call.id, "name": call.name, "arguments": args_preview}
                )
                await _record(
                    req,
                    "tool_call",
                    {"name": call.name, "arguments": args_preview},
                    {"tool_call_id": call.id},
                )

        contexts = _call_contexts(calls, tools, req.context, budget)
        tasks = {
            asyncio.ensure_future(
                self._execute(call, tools.get(call.name), tools, contexts[call.id])
            ): call
            for call in calls
        }
        try:
            for future in asyncio.as_completed(list(tasks)):
                call, outcome = await future
                results[call.id] = outcome
                budget.charge(outcome.model_calls)
                tool = tools.get(call.name)
                preview = outcome.text[:PREVIEW_CHARS]
                if tool is not None and tool.kind == "delegation":
                    yield Progress(
                        "delegation_response",
                        {"id": call.id, "peer": tool.source, "ok": outcome.ok, "content": preview},
                    )
                    await _record(
                        req,
                        "delegation_response",
                        outcome.text,
                        {"peer": tool.source, "tool_call_id": call.id, "ok": outcome.ok},
                    )
                else:
                    yield Progress(
                        "tool_result",
                        {"id": call.id, "name": call.name, "ok": outcome.ok, "content": preview},
                    )
                    await _record(
                        req,
                        "tool_result",
                        {"name": call.name, "result": outcome.text},
                        {"tool_call_id": call.id, "ok": outcome.ok},
                    )
        finally:
            for task in tasks:
                task.cancel()

        for call in answered:
            outcome = results[call.id]
            if outcome.ok:
                progress.append(f"{call.name}: {outcome.text[:PROGRESS_CHARS]}")
            if mode == "string":
                messages.append({"role": "user", "content": string_mode_result(call.name, outcome)})
            else:
                text = outcome.text if outcome.ok else f"Error: {outcome.text}"
                messages.append({"role": "tool", "tool_call_id": call.id, "content": text})

    async def _execute(
        self, call: ToolCallRequest, tool: Tool | None, tools: dict[str, Tool], ctx: CallContext
    ) -> tuple[ToolCallRequest, ToolOutcome]:
        kind = tool.kind if tool is not None else "unknown"
        span_name = (
            f"delegate {tool.source}"
            if tool is not None and kind == "delegation"
            else f"tool {call.name}"
        )
        attributes = {
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "kaos.tool.kind": kind,
        }
        if tool is not None:
            attributes["kaos.tool.source"] = tool.source
        with self.tracer.start_as_current_span(span_name, attributes=attributes) as span:
            if tool is None:
                known = ", ".join(sorted(tools)) or "none"
                outcome = ToolOutcome(
                    False, f"unknown tool '{call.name}'; available tools: {known}"
                )
            else:
                try:
                    arguments = parse_arguments(call.arguments)
                except ValueError as exc:
                    outcome = ToolOutcome(False, str(exc))
                except RecursionError:
                    outcome = ToolOutcome(False, "arguments are nested too deeply")
                else:
                    try:
                        outcome = await tool.call(arguments, ctx)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # a tool must never take the request down
                        log.exception("tool %s crashed", call.name)
                        outcome = ToolOutcome(
                            False, f"tool '{call.name}' failed: {exc or type(exc).__name__}"
                        )
            span.set_attribute("kaos.tool.ok", outcome.ok)
            if not outcome.ok:
                span.set_status(trace.Status(trace.StatusCode.ERROR, outcome.text[:200]))
        self._on_tool(tool, call.name, outcome)
        return call, outcome


async def _record(
    req: LoopRequest, event_type: str, content: Any, metadata: dict[str, Any] | None
) -> None:
    if req.record is not None:
        await req.record(event_type, content, metadata)


def _call_contexts(
    calls: list[ToolCallRequest],
    tools: dict[str, Tool],
    context: CallContext,
    budget: ModelCallBudget,
) -> dict[str, CallContext]:
    """Each call's context: the delegations of a step share what is left of the budget."""
    delegations = [c for c in calls if (t := tools.get(c.name)) and t.kind == "delegation"]
    shares = dict(zip((c.id for c in delegations), budget.shares(len(delegations)), strict=True))
    return {
        call.id: dataclasses.replace(context, model_calls=shares[call.id])
        if call.id in shares
        else context
        for call in calls
    }


def _unique_ids(calls: list[ToolCallRequest]) -> None:
    """Some local servers number every call `call_0`: results must not overwrite each other."""
    seen: set[str] = set()
    for call in calls:
        if call.id in seen:
            call.id = new_call_id()
        seen.add(call.id)


def _finish(reason: str | None) -> str:
    return reason if reason in ("stop", "length", "content_filter") else "stop"


def _loads_or_raw(text: str) -> Any:
    try:
        return loads_arguments(text) if text else {}
    except (ValueError, RecursionError):
        return text


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    """A message without native tool-calling fields, for string mode (and small models)."""
    role = message.get("role")
    if role == "tool":
        return {"role": "user", "content": f"Tool result:\n{text_of(message.get('content'))}"}
    if role == "assistant" and message.get("tool_calls"):
        calls = "\n".join(
            "```json\n"
            + json.dumps(
                {
                    "tool": (c.get("function") or {}).get("name"),
                    "arguments": _loads_or_raw((c.get("function") or {}).get("arguments") or ""),
                },
                ensure_ascii=False,
            )
            + "\n```"
            for c in message["tool_calls"]
        )
        return {
            "role": "assistant",
            "content": f"{text_of(message.get('content'))}\n{calls}".strip(),
        }
    if role == "developer":
        return {"role": "system", "content": text_of(message.get("content"))}
    return {
        "role": role,
        "content": message.get("content") if message.get("content") is not None else "",
    }
