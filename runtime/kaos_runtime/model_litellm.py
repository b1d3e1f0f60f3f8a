"""The litellm model client (`MODEL_CLIENT=litellm`): `litellm.acompletion` against the
ModelAPI as an OpenAI-compatible endpoint.

The model name gets the `openai/` provider prefix, which litellm strips exactly once, so it
reaches the server verbatim (`openai/gpt-4o` reaches a LiteLLM proxy as `openai/gpt-4o`).
litellm's own retries are off (`ModelClient` retries, within the call's deadline), and the
deadline is enforced here too: litellm's `timeout` bounds each wait, not the whole call.
What litellm returns is read with the same tolerance and checks as the direct client's
answers (`model_answers`).
"""

from __future__ import annotations

import asyncio
import socket
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .model_answers import arguments_text, count
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
from .settings import Settings


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
        self.timeout = settings.model_timeout_seconds
        self.common = {
            "api_base": settings.model_api_base,
            "api_key": settings.model_api_key or PLACEHOLDER_KEY,
            "max_retries": 0,  # ModelClient retries, with its own bounds
        }

    def _kwargs(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        return {**request, **self.common, "timeout": timeout, "model": "openai/" + request["model"]}

    async def complete(self, request: dict[str, Any], timeout: float) -> ModelTurn:
        try:
            async with asyncio.timeout(timeout):
                response = await self._litellm.acompletion(**self._kwargs(request, timeout))
        except Exception as exc:
            raise _litellm_error(exc, self.timeout) from exc
        try:
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
            content = getattr(message, "content", None)
        except (AttributeError, IndexError, TypeError) as exc:
            raise ModelError(f"model API sent an unexpected answer: {exc}") from None
        if content is not None and not isinstance(content, str):
            raise ModelError(
                f"model API sent an unexpected answer: message.content is {type(content).__name__}"
            )
        return ModelTurn(
            content=content or "",
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
        try:
            async with asyncio.timeout_at(_loop_deadline(deadline)):
                response = await self._litellm.acompletion(**self._kwargs(request, timeout))
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
        except ModelError:
            raise
        except Exception as exc:
            raise _litellm_error(exc, self.timeout) from exc
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
            kwargs = {**self._kwargs(request, 2.0), "api_base": f"http://127.0.0.1:{port}/v1"}
            try:
                response = await self._litellm.acompletion(**kwargs, stream=stream)
                if stream:
                    async for _ in response:
                        break
            except Exception:
                pass

    async def close(self) -> None:
        return None


def _loop_deadline(deadline: float) -> float:
    """A `time.monotonic()` deadline on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    prompt = count(getattr(raw, "prompt_tokens", None))
    completion = count(getattr(raw, "completion_tokens", None))
    return Usage(
        prompt, completion, count(getattr(raw, "total_tokens", None)) or prompt + completion
    )


def _litellm_error(exc: Exception, timeout: float) -> ModelError:
    import openai  # litellm's exceptions subclass openai's

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return timeout_error(timeout)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return ModelError(f"model API unreachable: {_short(exc)}", transient=True)
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
    text = str(exc) or type(exc).__name__
    for prefix in ("litellm.", "OpenAIException - "):
        text = text.replace(prefix, "")
    return " ".join(text.split())[:500]
