"""Calls to the ModelAPI: one OpenAI-compatible chat endpoint at `MODEL_API_URL + /v1`.

Both ModelAPI kinds (a LiteLLM proxy, Ollama) speak the OpenAI protocol, so the runtime
treats the ModelAPI as a generic OpenAI-compatible server and names the model the way that
server knows it (`Settings.upstream_model`). A backend does the HTTP; `make_backend` picks
it from `MODEL_CLIENT` (the one place to add another):

* `direct` (default, `model_direct.py`): the OpenAI request body POSTed with aiohttp, the
  answer read and checked by `model_answers.py`;
* `litellm` (`model_litellm.py`): `litellm.acompletion` with the `openai/` provider prefix.

`ModelClient` wraps the backend the same way for both: one deadline for the whole call
(`MODEL_TIMEOUT_SECONDS`, retries and a streamed answer included), bounded retries of
transient failures (connection errors, 429, 5xx; a stream only before its first token, as
a half-streamed answer cannot be taken back), metrics and a span. Every failure is a
`ModelError` carrying the HTTP status the agent answers (502, or 504 on a timeout).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opentelemetry import trace

from .ids import unique_hex
from .settings import Settings
from .turns import pass_on

log = logging.getLogger(__name__)

#: Sent when no MODEL_API_KEY is configured: OpenAI clients insist on a key, a keyless
#: LiteLLM proxy or Ollama ignores it.
PLACEHOLDER_KEY = "sk-kaos-no-key"
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


# --- result types ---------------------------------------------------------------------


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def add(self, other: Usage | None) -> None:
        if other is None:
            return
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class ToolCallRequest:
    """One tool call the model asked for; `arguments` is the raw JSON text it wrote."""

    id: str
    name: str
    arguments: str


@dataclass
class ModelTurn:
    """The complete result of one model call."""

    content: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None


class ModelError(Exception):
    """The model API failed; `status` is what the agent answers its own client."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        upstream_status: int | None = None,
        transient: bool = False,
    ) -> None:
        message = " ".join(message.split())  # one line, in the log and in the answer
        super().__init__(message)
        self.message = message
        self.status = status
        self.upstream_status = upstream_status
        self.transient = transient

    @property
    def code(self) -> str:
        return "model_timeout" if self.status == 504 else "model_api_error"

    @property
    def rejects_tools(self) -> bool:
        """A 4xx that plausibly means "this model cannot take `tools`" (auto mode falls back):
        it names tools or functions (OpenAI: "Invalid schema for function ...", others:
        "function calling is not supported") and is not about the size of the request."""
        return (
            self.upstream_status in (400, 404, 422, 500, 501)
            and _ABOUT_TOOLS.search(self.message) is not None
            and _NOT_ABOUT_TOOLS.search(self.message) is None
        )


#: An error that names what `tools` carries (the parameter, a function, a tool call).
_ABOUT_TOOLS = re.compile(r"tool|function", re.IGNORECASE)
#: Errors that name functions for another reason: OpenAI's context-length error counts the
#: tokens "in the functions"; quotas and rate limits are not about tools either.
_NOT_ABOUT_TOOLS = re.compile(
    r"context.?(length|window)|maximum context|too many tokens|token limit|reduce the length"
    r"|max_tokens|rate.?limit|quota",
    re.IGNORECASE,
)


def new_call_id() -> str:
    return f"call_{unique_hex(24)}"


class ToolCallAccumulator:
    """Assembles streamed tool-call deltas (by `index`) into complete calls."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(
        self, index: int | None, call_id: str | None, name: str | None, args: str | None
    ) -> None:
        slot = self._calls.setdefault(
            index if index is not None else len(self._calls), {"id": "", "name": "", "args": ""}
        )
        if call_id:
            slot["id"] = call_id
        if name:
            slot["name"] += name
        if args:
            slot["args"] += args

    def result(self) -> list[ToolCallRequest]:
        return [
            ToolCallRequest(c["id"] or new_call_id(), c["name"], c["args"])
            for _, c in sorted(self._calls.items())
            if c["name"]
        ]


# --- the client interface ------------------------------------------------------------

#: A stream yields content deltas (str) and ends with exactly one ModelTurn.
StreamItem = str | ModelTurn


class Backend(Protocol):
    """Does one model call over HTTP; `timeout` is the seconds left of the call's deadline."""

    async def complete(self, request: dict[str, Any], timeout: float) -> ModelTurn: ...
    def stream(self, request: dict[str, Any], timeout: float) -> AsyncIterator[StreamItem]: ...
    async def warm_up(self) -> None: ...
    async def close(self) -> None: ...


def make_backend(settings: Settings) -> Backend:
    """The backend `MODEL_CLIENT` names (imported here only, so unused ones cost nothing),
    or the scripted replies of `DEBUG_MOCK_RESPONSES` (tests only)."""
    if settings.debug_mock_responses is not None:
        from .model_mock import MockBackend, parse_mock_responses

        return MockBackend(parse_mock_responses(settings.debug_mock_responses))
    if settings.model_client == "litellm":
        from .model_litellm import LiteLLMBackend

        return LiteLLMBackend(settings)
    from .model_direct import DirectBackend

    return DirectBackend(settings)


def timeout_error(seconds: float) -> ModelError:
    return ModelError(
        f"model API did not answer within {seconds:g}s (MODEL_TIMEOUT_SECONDS)", status=504
    )


class ModelClient:
    """The agent's model: a deadline and bounded retries around a backend, plus metrics."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend | None = None,
        on_call: Callable[[str, float, Usage | None], None] | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.model = settings.upstream_model
        self.max_retries = settings.model_max_retries
        self.timeout = settings.model_timeout_seconds
        self.backend = backend or make_backend(settings)
        self._on_call = on_call or (lambda outcome, seconds, usage: None)
        self.tracer = tracer or trace.get_tracer(__name__)
        self._span_name = f"chat {self.model}"
        self._span_attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": self.model,
            "server.address": settings.model_api_base,
        }

    @staticmethod
    def _end_span(span: trace.Span, turn: ModelTurn) -> None:
        if turn.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", turn.usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", turn.usage.completion_tokens)
        if turn.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [turn.finish_reason])
        span.set_attribute("kaos.tool_calls", len(turn.tool_calls))

    def _request(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        request: dict[str, Any] = {**params, "model": self.model, "messages": messages}
        if tools:
            request["tools"] = tools
        return request

    async def _retry_or_raise(
        self, exc: ModelError, attempt: int, deadline: float, span: trace.Span
    ) -> None:
        """Wait before attempt `attempt`, or raise `exc` when it may not be retried."""
        if not exc.transient or attempt > self.max_retries:
            raise exc
        delay = min(4.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())
        if time.monotonic() + delay >= deadline:
            raise exc  # no time left for another attempt: the caller gets the real cause
        span.add_event("retry", {"attempt": attempt, "error": exc.message})
        log.warning("model call failed (%s); retry %d in %.2fs", exc.message, attempt, delay)
        await asyncio.sleep(delay)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> ModelTurn:
        request = self._request(messages, tools, params or {})
        deadline = time.monotonic() + self.timeout
        attempt = 0
        with self.tracer.start_as_current_span(
            self._span_name, kind=trace.SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            while True:
                started = time.perf_counter()
                try:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise timeout_error(self.timeout)
                    pass_on()  # the next request prepares while this one is sent
                    turn = await self.backend.complete(request, remaining)
                except ModelError as exc:
                    self._on_call("error", time.perf_counter() - started, None)
                    attempt += 1
                    await self._retry_or_raise(exc, attempt, deadline, span)
                    continue
                self._on_call("ok", time.perf_counter() - started, turn.usage)
                self._end_span(span, turn)
                return turn

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamItem]:
        request = self._request(messages, tools, params or {})
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
        deadline = time.monotonic() + self.timeout
        attempt = 0
        with self.tracer.start_as_current_span(
            self._span_name, kind=trace.SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            span.set_attribute("gen_ai.request.stream", True)
            while True:
                started = time.perf_counter()
                produced = False
                try:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise timeout_error(self.timeout)
                    pass_on()  # the next request prepares while this one is sent
                    async for item in self.backend.stream(request, remaining):
                        if isinstance(item, ModelTurn):
                            self._on_call("ok", time.perf_counter() - started, item.usage)
                            self._end_span(span, item)
                            yield item
                            return
                        produced = True
                        yield item
                    raise ModelError("model stream ended without a final chunk")
                except ModelError as exc:
                    self._on_call("error", time.perf_counter() - started, None)
                    if produced:
                        raise
                    attempt += 1
                    await self._retry_or_raise(exc, attempt, deadline, span)

    async def warm_up(self) -> None:
        await self.backend.warm_up()

    async def close(self) -> None:
        await self.backend.close()


# --- model capabilities ----------------------------------------------------------------

_capabilities: dict[str, bool] | None = None


def _load_capabilities() -> dict[str, bool]:
    """`supports_function_calling` per model, from litellm's bundled (local) cost map.

    Read as a file, without importing litellm, so it never touches the network and costs
    tens of milliseconds rather than seconds.
    """
    global _capabilities
    if _capabilities is None:
        _capabilities = {}
        spec = importlib.util.find_spec("litellm")
        locations = list(spec.submodule_search_locations or []) if spec else []
        for location in locations:
            path = Path(location) / "model_prices_and_context_window_backup.json"
            if path.is_file():
                data = json.loads(path.read_text(encoding="utf-8"))
                _capabilities = {
                    name: bool(info["supports_function_calling"])
                    for name, info in data.items()
                    if isinstance(info, dict) and "supports_function_calling" in info
                }
                break
    return _capabilities


def model_supports_tools(model_name: str) -> bool | None:
    """True/False when the cost map knows the model, None when it does not."""
    table = _load_capabilities()
    candidates = [model_name]
    if "/" in model_name:
        candidates.append(model_name.split("/", 1)[1])
        candidates.append(model_name.rsplit("/", 1)[1])
    for name in candidates:
        if name in table:
            return table[name]
    return None
