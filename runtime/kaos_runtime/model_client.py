"""Calls to the ModelAPI: one OpenAI-compatible chat endpoint at `MODEL_API_URL + /v1`.

Both ModelAPI kinds (a LiteLLM proxy, Ollama) speak the OpenAI protocol, so the runtime
treats the ModelAPI as a generic OpenAI-compatible server and names the model the way that
server knows it (`Settings.upstream_model`). Two interchangeable backends do the HTTP
(`MODEL_CLIENT`):

* `direct` (default): the OpenAI request body POSTed on a pool of keep-alive connections
  (`http_pool`), the answer parsed here. Tens of microseconds of CPU per call.
* `litellm`: `litellm.acompletion` with the `openai/` provider prefix, so the model name
  reaches the server verbatim (litellm strips exactly one `openai/`). Milliseconds of CPU
  per call and seconds of start-up, for those who want litellm's own machinery.

Both return the same `ModelTurn` / stream the same deltas, and both turn failures into
`ModelError` with the HTTP status the agent should answer (502, or 504 on a timeout).
Transient failures (connection errors, 429, 5xx) are retried a bounded number of times,
a stream only before its first token (a half-streamed answer cannot be taken back).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import random
import socket
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from opentelemetry import trace

from .http_pool import ConnectionFailed, HTTPPool, ProtocolFailed
from .ids import unique_hex
from .settings import Settings

log = logging.getLogger(__name__)

#: Sent when no MODEL_API_KEY is configured: OpenAI clients insist on a key, a keyless
#: LiteLLM proxy or Ollama ignores it.
PLACEHOLDER_KEY = "sk-kaos-no-key"
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


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

    @classmethod
    def from_obj(cls, raw: Any) -> Usage | None:
        """From a dict or an object with the OpenAI usage attributes."""
        if raw is None:
            return None
        get = raw.get if isinstance(raw, dict) else (lambda k: getattr(raw, k, None))
        prompt = int(get("prompt_tokens") or 0)
        completion = int(get("completion_tokens") or 0)
        total = int(get("total_tokens") or (prompt + completion))
        return cls(prompt, completion, total)


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
        """A 4xx that plausibly means "this model cannot take `tools`" (auto mode falls back)."""
        return self.upstream_status in (400, 404, 422, 500, 501) and "tool" in self.message.lower()


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
    async def complete(self, request: dict[str, Any]) -> ModelTurn: ...
    def stream(self, request: dict[str, Any]) -> AsyncIterator[StreamItem]: ...
    async def warm_up(self) -> None: ...
    async def close(self) -> None: ...


class ModelClient:
    """The agent's model: bounded retries around a backend, plus metrics hooks."""

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

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> ModelTurn:
        request = self._request(messages, tools, params or {})
        attempt = 0
        with self.tracer.start_as_current_span(
            self._span_name, kind=trace.SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            while True:
                started = time.perf_counter()
                try:
                    turn = await self.backend.complete(request)
                except ModelError as exc:
                    self._on_call("error", time.perf_counter() - started, None)
                    if not exc.transient or attempt >= self.max_retries:
                        raise
                    attempt += 1
                    span.add_event("retry", {"attempt": attempt, "error": exc.message})
                    await _backoff(attempt, exc)
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
        attempt = 0
        with self.tracer.start_as_current_span(
            self._span_name, kind=trace.SpanKind.CLIENT, attributes=self._span_attributes
        ) as span:
            span.set_attribute("gen_ai.request.stream", True)
            while True:
                started = time.perf_counter()
                produced = False
                try:
                    async for item in self.backend.stream(request):
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
                    if produced or not exc.transient or attempt >= self.max_retries:
                        raise
                    attempt += 1
                    span.add_event("retry", {"attempt": attempt, "error": exc.message})
                    await _backoff(attempt, exc)

    async def warm_up(self) -> None:
        await self.backend.warm_up()

    async def close(self) -> None:
        await self.backend.close()


async def _backoff(attempt: int, exc: ModelError) -> None:
    delay = min(4.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random())
    log.warning("model call failed (%s); retry %d in %.2fs", exc.message, attempt, delay)
    await asyncio.sleep(delay)


def make_backend(settings: Settings) -> Backend:
    if settings.model_client == "direct":
        return DirectBackend(settings)
    return LiteLLMBackend(settings)


# --- direct backend (http_pool) ------------------------------------------------------


class DirectBackend:
    """POSTs to `<base>/chat/completions` on a pool of keep-alive connections.

    `http_pool.HTTPPool` rather than aiohttp or httpx: the model call is the hot path, and
    their per-request machinery cost more CPU than the rest of the runtime's work on a
    request (bench/runtime.py). No proxy variables are honoured: the ModelAPI is a Service
    in the cluster.
    """

    def __init__(self, settings: Settings) -> None:
        self.base = settings.model_api_base
        self.headers = {
            "Authorization": f"Bearer {settings.model_api_key or PLACEHOLDER_KEY}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        timeout = settings.model_timeout_seconds
        self.read_timeout = timeout
        self.connect_timeout = min(10.0, timeout)
        self._pool: HTTPPool | None = None

    def _client(self) -> HTTPPool:
        if self._pool is None:
            self._pool = HTTPPool(
                self.base,
                self.headers,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
            )
        return self._pool

    async def complete(self, request: dict[str, Any]) -> ModelTurn:
        try:
            async with await self._client().post("/chat/completions", _body(request)) as response:
                raw = await response.read()
                status = response.status
        except Exception as exc:
            raise _transport_error(exc) from exc
        if status != 200:
            raise _status_error(status, raw.decode("utf-8", "replace"))
        try:
            body = json.loads(raw)
            choice = body["choices"][0]
            message = choice.get("message") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"model API returned an unexpected body: {exc}") from exc
        calls = [
            ToolCallRequest(
                c.get("id") or new_call_id(),
                (c.get("function") or {}).get("name", ""),
                (c.get("function") or {}).get("arguments") or "",
            )
            for c in message.get("tool_calls") or []
        ]
        return ModelTurn(
            content=message.get("content") or "",
            tool_calls=[c for c in calls if c.name],
            usage=Usage.from_obj(body.get("usage")),
            finish_reason=choice.get("finish_reason"),
        )

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[StreamItem]:
        calls = ToolCallAccumulator()
        content: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        done = False
        try:
            async with await self._client().post("/chat/completions", _body(request)) as response:
                if response.status != 200:
                    raw = await response.read()
                    raise _status_error(response.status, raw.decode("utf-8", "replace"))
                async for raw_line in response.lines():
                    line = raw_line.strip()
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise ModelError(
                            f"model API sent a malformed chunk: {data[:200]!r}"
                        ) from exc
                    if not isinstance(chunk, dict):
                        continue
                    if chunk.get("error"):
                        raise ModelError(f"model API stream error: {_error_text(chunk)}")
                    usage = Usage.from_obj(chunk.get("usage")) or usage
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = delta.get("content")
                        if text:
                            content.append(text)
                            yield text
                        for tc in delta.get("tool_calls") or []:
                            fn = tc.get("function") or {}
                            calls.add(
                                tc.get("index"), tc.get("id"), fn.get("name"), fn.get("arguments")
                            )
                        finish = choice.get("finish_reason") or finish
                if done:  # the end of the body is usually a packet behind: keep the connection
                    await response.drain(_DRAIN_SECONDS)
        except ModelError:
            raise
        except Exception as exc:
            raise _transport_error(exc) from exc
        yield ModelTurn("".join(content), calls.result(), usage, finish)

    async def warm_up(self) -> None:
        return None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


#: How long to wait for the rest of a streamed body after `data: [DONE]` before closing.
_DRAIN_SECONDS = 1.0


def _body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _transport_error(exc: BaseException) -> ModelError:
    if isinstance(exc, TimeoutError):
        return ModelError(f"model API timed out ({exc or type(exc).__name__})", status=504)
    if isinstance(exc, ProtocolFailed):
        return ModelError(f"model API sent an invalid response: {exc}", transient=True)
    if isinstance(exc, ConnectionFailed):
        return ModelError(f"model API unreachable: {exc}", transient=True)
    if isinstance(exc, OSError):
        return ModelError(
            f"model API connection failed: {exc or type(exc).__name__}", transient=True
        )
    return ModelError(f"model call failed: {exc or type(exc).__name__}")


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return str(body)


def _status_error(status: int, text: str) -> ModelError:
    try:
        detail = _error_text(json.loads(text))
    except ValueError:
        detail = text.strip()[:500] or "(empty body)"
    return ModelError(
        f"model API answered {status}: {detail}",
        status=504 if status == 504 else 502,
        upstream_status=status,
        transient=status in _TRANSIENT_STATUS,
    )


# --- litellm backend -----------------------------------------------------------------


class LiteLLMBackend:
    """`litellm.acompletion` against the ModelAPI as an OpenAI-compatible endpoint."""

    def __init__(self, settings: Settings) -> None:
        import litellm  # deferred: ~5 s of imports, only when this backend is used

        # litellm's stream wrapper trips pydantic deprecation warnings on every chunk.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"litellm(\.|$)")

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.disable_streaming_logging = True
        litellm.turn_off_message_logging = True
        self._litellm = litellm
        self.common = {
            "api_base": settings.model_api_base,
            "api_key": settings.model_api_key or PLACEHOLDER_KEY,
            "timeout": settings.model_timeout_seconds,
            "max_retries": 0,  # ModelClient retries, with its own bounds
        }

    def _kwargs(self, request: dict[str, Any]) -> dict[str, Any]:
        # `openai/` selects litellm's OpenAI-compatible provider and is stripped exactly once,
        # so `openai/gpt-4o` reaches a LiteLLM proxy as `openai/gpt-4o`.
        return {**request, **self.common, "model": "openai/" + request["model"]}

    async def complete(self, request: dict[str, Any]) -> ModelTurn:
        try:
            response = await self._litellm.acompletion(**self._kwargs(request))
        except Exception as exc:
            raise _litellm_error(exc) from exc
        choice = response.choices[0]
        message = choice.message
        calls = [
            ToolCallRequest(
                tc.id or new_call_id(), tc.function.name or "", tc.function.arguments or ""
            )
            for tc in (getattr(message, "tool_calls", None) or [])
        ]
        return ModelTurn(
            content=getattr(message, "content", None) or "",
            tool_calls=[c for c in calls if c.name],
            usage=Usage.from_obj(getattr(response, "usage", None)),
            finish_reason=choice.finish_reason,
        )

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[StreamItem]:
        calls = ToolCallAccumulator()
        content: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        try:
            response = await self._litellm.acompletion(**self._kwargs(request))
            async for chunk in response:
                usage = Usage.from_obj(getattr(chunk, "usage", None)) or usage
                for choice in chunk.choices or []:
                    delta = choice.delta
                    text = getattr(delta, "content", None)
                    if text:
                        content.append(text)
                        yield text
                    for tc in getattr(delta, "tool_calls", None) or []:
                        fn = tc.function
                        calls.add(
                            getattr(tc, "index", None),
                            getattr(tc, "id", None),
                            getattr(fn, "name", None),
                            getattr(fn, "arguments", None),
                        )
                    finish = choice.finish_reason or finish
        except ModelError:
            raise
        except Exception as exc:
            raise _litellm_error(exc) from exc
        yield ModelTurn("".join(content), calls.result(), usage, finish)

    async def warm_up(self) -> None:
        """Run litellm's first-call path (seconds of lazy imports) before serving.

        Otherwise the first request would block the event loop, health probes included.
        The calls go to a closed loopback port: refused at once, nothing leaves the pod.
        """
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        request = {"model": "warm-up", "messages": [{"role": "user", "content": "-"}]}
        for stream in (False, True):
            kwargs = {**self._kwargs(request), "api_base": f"http://127.0.0.1:{port}/v1"}
            kwargs["timeout"] = 2.0
            try:
                response = await self._litellm.acompletion(**kwargs, stream=stream)
                if stream:
                    async for _ in response:
                        break
            except Exception:
                pass

    async def close(self) -> None:
        return None


def _litellm_error(exc: Exception) -> ModelError:
    import openai  # litellm's exceptions subclass openai's

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return ModelError(f"model API timed out ({type(exc).__name__})", status=504)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return ModelError(f"model API unreachable: {_short(exc)}", transient=True)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return ModelError(
            f"model API answered {status}: {_short(exc)}",
            status=504 if status == 504 else 502,
            upstream_status=status,
            transient=status in _TRANSIENT_STATUS,
        )
    return ModelError(f"model call failed: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    for prefix in ("litellm.", "OpenAIException - "):
        text = text.replace(prefix, "")
    return text[:500]


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
