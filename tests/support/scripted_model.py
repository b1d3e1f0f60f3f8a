"""A scripted OpenAI-compatible model server: the test double for a ModelAPI.

It serves `POST /v1/chat/completions` (streaming and not), `GET /v1/models` and `GET /health`
on a random loopback port, answers from a script of `Reply` objects (or a function of the
request), records every request body it received, and can inject errors and delays. It is
deliberately small and dependency-light (Starlette + uvicorn) so benchmarks can reuse it::

    with ScriptedModel(default=Reply.text("ok")) as model:
        model.push(Reply.tool_call("add", {"a": 1, "b": 2}), Reply.text("3"))
        ...  # point the runtime at model.url
        assert model.requests[0]["tools"][0]["function"]["name"] == "add"

It also runs standalone, e.g. as a fast backend for a benchmark::

    python -m tests.support.scripted_model --port 9000 --text "hello world"
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["Reply", "ScriptedModel", "ToolCall", "free_port"]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] | str
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the model.

    `tokens` is how the content is streamed (one chunk per token); `token_delay` is slept
    before each streamed token, `delay` before the response starts. `status` other than 200
    answers with an OpenAI-style error body instead.
    """

    content: str = ""
    tokens: tuple[str, ...] | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    delay: float = 0.0
    token_delay: float = 0.0
    status: int = 200
    error_message: str = "scripted error"
    include_usage: bool = True
    drop_connection: bool = False

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: dict[str, Any] | str, **kw: Any) -> Reply:
        return cls(tool_calls=(ToolCall(name, arguments),), **kw)

    @classmethod
    def tool_calls_(cls, *calls: tuple[str, dict[str, Any]], **kw: Any) -> Reply:
        return cls(tool_calls=tuple(ToolCall(n, a) for n, a in calls), **kw)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", **kw: Any) -> Reply:
        return cls(status=status, error_message=message, **kw)

    def stream_tokens(self) -> list[str]:
        if self.tokens is not None:
            return list(self.tokens)
        if not self.content:
            return []
        # Split after each space so that "".join(tokens) == content.
        parts, current = [], ""
        for ch in self.content:
            current += ch
            if ch == " ":
                parts.append(current)
                current = ""
        if current:
            parts.append(current)
        return parts

    def usage_for(self, body: dict[str, Any]) -> dict[str, int]:
        if self.usage is not None:
            prompt, completion = self.usage
        else:
            prompt = sum(len(json.dumps(m)) // 4 for m in body.get("messages", [])) or 1
            completion = max(1, len(self.stream_tokens()) + 5 * len(self.tool_calls))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }


ReplySource = Reply | Callable[[dict[str, Any]], Reply]


@dataclass
class ScriptedModel:
    """The server. Use as a context manager (a thread running uvicorn) or `build_app()`."""

    default: ReplySource | None = None
    model_ids: tuple[str, ...] = ("scripted",)
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    record: bool = True

    def __post_init__(self) -> None:
        self._script: collections.deque[ReplySource] = collections.deque()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        #: Monotonic time at which each streamed token was sent, per response.
        self.token_times: list[list[float]] = []

    # -- scripting --------------------------------------------------------------------
    def push(self, *replies: ReplySource) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.headers.clear()
            self.token_times.clear()

    @property
    def pending(self) -> int:
        return len(self._script)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            source = self._script.popleft() if self._script else self.default
        if source is None:
            return Reply.error(500, "script exhausted: no reply left for this request")
        return source(body) if callable(source) else source

    # -- HTTP -------------------------------------------------------------------------
    def build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models),
                Route("/health", self._health),
            ]
        )

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _models(self, request: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.model_ids
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if self.record:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
        reply = self._next_reply(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            error = {
                "message": reply.error_message,
                "type": "scripted",
                "param": None,
                "code": None,
            }
            return JSONResponse({"error": error}, status_code=reply.status)
        model = body.get("model", self.model_ids[0])
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._stream(reply, body, model, include_usage), media_type="text/event-stream"
            )
        return JSONResponse(self._completion(reply, body, model))

    def _completion(self, reply: Reply, body: dict[str, Any], model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for call in reply.tool_calls
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        result: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        if reply.include_usage:
            result["usage"] = reply.usage_for(body)
        return result

    async def _stream(self, reply: Reply, body: dict[str, Any], model: str, include_usage: bool):
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        times: list[float] = []
        self.token_times.append(times)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for token in reply.stream_tokens():
            if reply.token_delay:
                await asyncio.sleep(reply.token_delay)
            times.append(time.monotonic())
            yield chunk({"content": token})
            if reply.drop_connection:
                raise ConnectionError("scripted connection drop")
        for index, call in enumerate(reply.tool_calls):
            args = call.arguments_json()
            half = len(args) // 2
            head = {
                "index": index,
                "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": call.name, "arguments": args[:half]},
            }
            yield chunk({"tool_calls": [head]})
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[half:]}}]})
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        yield chunk({}, finish)
        if include_usage and reply.include_usage:
            data = {**base, "choices": [], "usage": reply.usage_for(body)}
            yield b"data: " + json.dumps(data).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    # -- lifecycle --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, without `/v1` (what MODEL_API_URL holds)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ScriptedModel:
        if not self.port:
            self.port = free_port(self.host)
        config = uvicorn.Config(
            self.build_app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="scripted-model", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("scripted model server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_iter(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.requests))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--text", default="Hello from the scripted model.")
    parser.add_argument("--token-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    model = ScriptedModel(default=Reply.text(args.text, token_delay=args.token_delay), record=False)
    uvicorn.run(
        model.build_app(), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
