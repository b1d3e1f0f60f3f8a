"""The litellm model client (`MODEL_CLIENT=litellm`): `litellm.acompletion` against the
ModelAPI as an OpenAI-compatible endpoint.

The model name gets the `openai/` provider prefix, which litellm strips exactly once, so it
reaches the server verbatim (`openai/gpt-4o` reaches a LiteLLM proxy as `openai/gpt-4o`).
litellm's own retries are off (`ModelClient` retries, within the call's deadline), and the
deadline is enforced here too: litellm's `timeout` bounds each wait, not the whole call.

litellm is given its OpenAI client (`client=`), whose httpx transport is `GuardedTransport`:
every answer passes the same checks as the direct client's (`model_answers`) before litellm
sees it, and litellm is handed a well-formed equivalent. Left to itself, litellm takes an
HTML page or an empty body answering a stream for an empty answer, a stream that stops
early for a complete one, a `chat.completion` answering a stream for nothing, and rejects
answers whose token counts are strings or `NaN`; its errors quote tracebacks. What the
transport found wrong is what the caller is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from .ids import unique_hex
from .model_answers import (
    MAX_ANSWER_BYTES,
    StreamReader,
    arguments_text,
    count,
    status_error,
    turn_from_body,
)
from .model_client import (
    PLACEHOLDER_KEY,
    TRANSIENT_STATUS,
    ModelError,
    ModelTurn,
    StreamItem,
    ToolCallAccumulator,
    ToolCallRequest,
    Usage,
    new_call_id,
    timeout_error,
)
from .model_direct import USER_AGENT, connect_timeout_error, new_session, transport_error
from .settings import Settings
from .stream_end import read_events

#: Sent with each call so that the transport knows which call an answer belongs to.
CALL_HEADER = "x-kaos-call"
_ERROR_BODY_BYTES = 64 * 1024


@dataclass
class _Call:
    """What the transport learned about one model call."""

    error: ModelError | None = None
    #: A stream read to its end, and the usage the model API sent in it (None: it sent
    #: none; litellm would put its own estimate in its place).
    streamed: bool = False
    usage: Usage | None = None


class LiteLLMBackend:
    def __init__(self, settings: Settings) -> None:
        import litellm  # deferred: seconds of imports, only when this backend is used

        # litellm's stream wrapper trips pydantic deprecation warnings on every chunk.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"litellm(\.|$)")

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.disable_streaming_logging = True
        litellm.turn_off_message_logging = True
        self._litellm = litellm
        self.settings = settings
        self.timeout = settings.model_timeout_seconds
        self.connect_timeout = settings.model_connect_timeout_seconds
        self._calls: dict[str, _Call] = {}
        self._client: Any = None

    def _openai_client(self) -> Any:
        """litellm's OpenAI client, on the guarded transport (made in the running loop)."""
        if self._client is None:
            import openai
            from litellm.llms.custom_httpx.aiohttp_transport import LiteLLMAiohttpTransport

            settings = self.settings
            # litellm's own default transport (aiohttp under httpx), on a session made like
            # the direct client's (guarded pool, dead-peer detection, keep-alive expiry).
            inner = LiteLLMAiohttpTransport(client=lambda: new_session(settings))
            http = httpx.AsyncClient(
                transport=GuardedTransport(
                    inner, self._calls, settings.model_connect_timeout_seconds
                ),
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": f"{USER_AGENT} (litellm)"},
            )
            self._client = openai.AsyncOpenAI(
                base_url=settings.model_api_base,
                api_key=settings.model_api_key or PLACEHOLDER_KEY,
                http_client=http,
                max_retries=0,  # ModelClient retries, with its own bounds
            )
        return self._client

    def _kwargs(self, request: dict[str, Any], timeout: float, call_id: str) -> dict[str, Any]:
        return {
            **_encodable(request),
            "model": "openai/" + request["model"],
            "api_base": self.settings.model_api_base,
            "api_key": self.settings.model_api_key or PLACEHOLDER_KEY,
            "client": self._openai_client(),
            "max_retries": 0,
            "timeout": httpx.Timeout(timeout, connect=min(timeout, self.connect_timeout)),
            "extra_headers": {CALL_HEADER: call_id},
        }

    def _begin(self) -> tuple[str, _Call]:
        call_id = unique_hex()
        call = self._calls[call_id] = _Call()
        return call_id, call

    async def complete(self, request: dict[str, Any], timeout: float) -> ModelTurn:
        call_id, call = self._begin()
        try:
            async with asyncio.timeout(timeout):
                response = await self._litellm.acompletion(
                    **self._kwargs(request, timeout, call_id)
                )
        except Exception as exc:
            raise _litellm_error(exc, call, self.timeout) from None
        finally:
            del self._calls[call_id]
        choice = response.choices[0]
        message = choice.message
        calls = [
            ToolCallRequest(
                tc.id or new_call_id(),
                tc.function.name or "",
                arguments_text(tc.function.arguments),
            )
            for tc in (getattr(message, "tool_calls", None) or [])
        ]
        return ModelTurn(
            content=getattr(message, "content", None) or "",
            tool_calls=[c for c in calls if c.name],
            usage=_usage(getattr(response, "usage", None)),
            finish_reason=choice.finish_reason,
        )

    async def stream(self, request: dict[str, Any], timeout: float) -> AsyncIterator[StreamItem]:
        deadline = time.monotonic() + timeout
        calls = ToolCallAccumulator()
        content: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        call_id, call = self._begin()
        try:
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                response = await self._litellm.acompletion(
                    **self._kwargs(request, timeout, call_id)
                )
                chunks = aiter(response)
            while True:
                async with asyncio.timeout_at(_loop_deadline(deadline)):
                    chunk = await anext(chunks, None)
                if chunk is None:
                    break
                usage = _usage(getattr(chunk, "usage", None)) or usage
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
                            arguments_text(getattr(fn, "arguments", None)),
                        )
                    finish = choice.finish_reason or finish
        except Exception as exc:
            raise _litellm_error(exc, call, self.timeout) from None
        finally:
            self._calls.pop(call_id, None)
        if call.streamed:  # what the model API said, as the direct client reports it
            usage = call.usage
        yield ModelTurn("".join(content), calls.result(), usage, finish)

    async def warm_up(self) -> None:
        """Run litellm's first-call path (seconds of lazy imports) before serving.

        Otherwise the first request would block the event loop, health probes included.
        The calls go to a closed loopback port, never through a proxy: refused at once,
        nothing leaves the pod.
        """
        import openai

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        async with httpx.AsyncClient(trust_env=False) as http:
            client = openai.AsyncOpenAI(
                base_url=f"http://127.0.0.1:{port}/v1",
                api_key=PLACEHOLDER_KEY,
                http_client=http,
                max_retries=0,
            )
            for stream in (False, True):
                try:
                    response = await self._litellm.acompletion(
                        model="openai/warm-up",
                        messages=[{"role": "user", "content": "-"}],
                        api_base=f"http://127.0.0.1:{port}/v1",
                        api_key=PLACEHOLDER_KEY,
                        client=client,
                        timeout=2.0,
                        max_retries=0,
                        stream=stream,
                    )
                    if stream:
                        async for _ in response:
                            break
                except Exception:
                    pass

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _encodable(request: dict[str, Any]) -> dict[str, Any]:
    """`request` as UTF-8 can carry it: a lone surrogate (`\\ud800` is valid JSON in what a
    client, a tool or a peer sent) becomes `?`, as the direct client sends it. Otherwise
    the OpenAI SDK fails to encode the body, which litellm reports as the server's 500."""
    try:
        json.dumps(request, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return _replaced(request)
    return request


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()
    if isinstance(value, dict):
        return {key: _replaced(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item) for item in value]
    return value


# --- the guarded transport -------------------------------------------------------------


class GuardedTransport(httpx.AsyncBaseTransport):
    """Passes litellm only well-formed answers, and notes what was wrong with the others.

    A non-200 answer or one that fails the checks becomes a 502/504 with an OpenAI error
    body (litellm raises on it; the backend then reports the error noted here). A good
    answer is handed on re-encoded from what was read: a body as one `chat.completion`, a
    stream as chunks, each content delta as soon as it arrived.
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, calls: dict[str, _Call], connect_timeout: float
    ) -> None:
        self.inner = inner
        self.calls = calls
        self.connect_timeout = connect_timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = self.calls.get(request.headers.pop(CALL_HEADER, ""), _Call())
        streaming = _streaming(request)
        with _noting(call, self.connect_timeout):
            response = await self.inner.handle_async_request(request)
        try:
            if response.status_code != 200:
                raw = await _read(response, _ERROR_BODY_BYTES)
                raise status_error(response.status_code, raw, response.headers.get("location"))
            content_type = response.headers.get("content-type", "")
            if not streaming:
                with _noting(call, self.connect_timeout):
                    if "text/event-stream" in content_type:  # streamed anyway
                        turn = await _read_stream(response, content_type)
                    else:
                        turn = turn_from_body(await _read(response, MAX_ANSWER_BYTES), content_type)
                return httpx.Response(
                    200, headers={"content-type": "application/json"}, content=_completion(turn)
                )
        except ModelError as exc:
            await response.aclose()
            call.error = exc
            return httpx.Response(
                exc.status,
                headers={"content-type": "application/json"},
                content=json.dumps({"error": {"message": exc.message}}).encode(),
            )
        except BaseException:
            await response.aclose()
            raise
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_GuardedStream(response, content_type, call),
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class _GuardedStream(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response, content_type: str, call: _Call) -> None:
        self.response = response
        self.content_type = content_type
        self.call = call

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = StreamReader(self.content_type)
        try:
            with _noting(self.call, 0):
                pieces = self.response.aiter_bytes()
                async for text in read_events(functools.partial(anext, pieces, b""), reader):
                    yield _chunk({"content": text})
            turn = reader.result()
        except ModelError as exc:
            self.call.error = exc
            raise httpx.RemoteProtocolError(exc.message) from None
        self.call.streamed, self.call.usage = True, turn.usage
        if reader.whole_body and turn.content:
            yield _chunk({"content": turn.content})
        if turn.tool_calls:
            yield _chunk({"tool_calls": _tool_calls(turn, indexed=True)})
        yield _chunk({}, turn.finish_reason or "stop")
        if turn.usage is not None:
            yield _event({"choices": [], "usage": turn.usage.as_dict(), **_ENVELOPE})
        yield b"data: [DONE]\n\n"

    async def aclose(self) -> None:
        await self.response.aclose()


@contextlib.contextmanager
def _noting(call: _Call, connect_timeout: float) -> Iterator[None]:
    """Note a connection failure the way the direct client words it (deadlines aside)."""
    try:
        yield
    except httpx.ConnectTimeout:
        call.error = connect_timeout_error(connect_timeout)
        raise
    except (httpx.TimeoutException, TimeoutError, ModelError):
        raise
    except Exception as exc:
        found = (exc, exc.__cause__, exc.__context__)
        root = next((e for e in found if isinstance(e, aiohttp.ClientError | OSError)), None)
        if root is not None:
            call.error = transport_error(root, 0, connect_timeout)
        else:
            call.error = ModelError(f"model API connection failed: {exc}", transient=True)
        raise


_ENVELOPE = {"id": "chatcmpl-kaos", "created": 0, "model": "model-api"}


def _reencode(data: dict[str, Any]) -> bytes:
    """An answer re-encoded for litellm, in ASCII: text the model API sent may hold a lone
    surrogate (`\\ud800` is valid JSON), which UTF-8 cannot encode; escaped, it reaches
    the runtime as it would through the direct client."""
    return json.dumps(data).encode()


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + _reencode(data) + b"\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _event({**_ENVELOPE, "object": "chat.completion.chunk", "choices": [choice]})


def _tool_calls(turn: ModelTurn, indexed: bool = False) -> list[dict[str, Any]]:
    return [
        {
            **({"index": index} if indexed else {}),
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for index, call in enumerate(turn.tool_calls)
    ]


def _completion(turn: ModelTurn) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = _tool_calls(turn)
    body: dict[str, Any] = {
        **_ENVELOPE,
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": message, "finish_reason": turn.finish_reason or "stop"}
        ],
    }
    if turn.usage is not None:
        body["usage"] = turn.usage.as_dict()
    return _reencode(body)


def _streaming(request: httpx.Request) -> bool:
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("stream") is True


async def _read_stream(response: httpx.Response, content_type: str) -> ModelTurn:
    """An event stream answering a plain request, read until its answer is complete."""
    reader = StreamReader(content_type)
    pieces = response.aiter_bytes()
    try:
        async for _ in read_events(functools.partial(anext, pieces, b""), reader):
            pass
    finally:
        await response.aclose()  # what follows the answer is not read: the connection goes
    return reader.result()


async def _read(response: httpx.Response, limit: int) -> bytes:
    pieces: list[bytes] = []
    size = 0
    async for piece in response.aiter_bytes():
        size += len(piece)
        if size > limit:
            if limit == _ERROR_BODY_BYTES:
                break
            raise ModelError(f"model API answer exceeds {limit} bytes")
        pieces.append(piece)
    return b"".join(pieces)


# --- results and errors ----------------------------------------------------------------


def _loop_deadline(deadline: float) -> float:
    """A `time.monotonic()` deadline on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    prompt = count(getattr(raw, "prompt_tokens", None))
    completion = count(getattr(raw, "completion_tokens", None))
    total = count(getattr(raw, "total_tokens", None)) or prompt + completion
    return Usage(prompt, completion, total)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _litellm_error(exc: Exception, call: _Call, timeout: float) -> ModelError:
    """What the caller is told: what the transport found, else litellm's exception, mapped."""
    import openai  # litellm's exceptions subclass openai's

    if isinstance(exc, ModelError):
        return exc
    if call.error is not None:
        return call.error
    chain = _causes(exc)
    if any(
        isinstance(e, openai.APITimeoutError | httpx.TimeoutException | TimeoutError) for e in chain
    ):
        return timeout_error(timeout)
    if any(isinstance(e, httpx.TransportError | openai.APIConnectionError) for e in chain):
        transport = next(
            e for e in chain if isinstance(e, httpx.TransportError | openai.APIConnectionError)
        )
        return ModelError(f"model API unreachable: {_short(transport)}", transient=True)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return ModelError(
            f"model API answered {status}: {_short(exc)}",
            status=504 if status == 504 else 502,
            upstream_status=status,
            transient=status in TRANSIENT_STATUS,
        )
    return ModelError(f"model call failed: {_short(exc)}")


def _short(exc: BaseException) -> str:
    """litellm's message, without its prefixes and the tracebacks it sometimes quotes."""
    text = str(exc) or type(exc).__name__
    text = text.split("Traceback (most recent call last)")[0]
    for prefix in ("litellm.", "OpenAIException - "):
        text = text.replace(prefix, "")
    return " ".join(text.split())[:500] or type(exc).__name__
