"""The OpenAI wire format: request validation, response and chunk shapes, errors, SSE.

Every byte of JSON goes through one `json.JSONEncoder`, never string templates (KAOS built
its SSE lines by string replacement, and an apostrophe in the content broke them).
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
)
from starlette.responses import Response

from .ids import unique_hex

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON; a lone surrogate (a model may write one as `\\ud800`) becomes `?`."""
    return _encoder.encode(value).encode("utf-8", "replace")


class JSONBody(Response):
    """A JSON response encoded by the shared encoder."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


# --- errors -------------------------------------------------------------------------


class APIError(Exception):
    """An error answered as an OpenAI-style body: {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _default_type(status)
        self.code = code
        self.param = param
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)

    def response(self) -> Response:
        return JSONBody(self.body(), status_code=self.status, headers=self.headers)


def _default_type(status: int) -> str:
    if status in (400, 404, 405, 413, 415, 422):
        return "invalid_request_error"
    if status in (502, 504):
        return "upstream_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(
    message: str, type: str = "server_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# --- the request ----------------------------------------------------------------------


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    #: `task-delegation` is how KAOS agents send a delegated task (treated as `user`).
    role: Literal["system", "developer", "user", "assistant", "tool", "function", "task-delegation"]
    content: StrictStr | list[dict[str, Any]] | None = None
    name: StrictStr | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: StrictStr | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: StrictBool = False


#: Sampling parameters passed through to the model unchanged.
PASS_THROUGH = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "user",
)


#: The largest token count taken (context windows are far below it): a larger one, sent
#: on, was refused by the model API, and the client got a 502 for its own mistake.
MAX_INT32 = 2**31 - 1


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: StrictStr | None = None
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    session_id: StrictStr | None = Field(default=None, min_length=1, max_length=256)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    n: int | None = Field(default=None, ge=1, le=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_INT32)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_INT32)
    stop: StrictStr | list[StrictStr] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # OpenAI's: an int64
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    response_format: dict[str, Any] | None = None
    user: StrictStr | None = None

    #: The messages as sent (validated above), cheaper than dumping the models again.
    _messages: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def messages_dicts(self) -> list[dict[str, Any]]:
        return self._messages

    def model_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in PASS_THROUGH if getattr(self, k) is not None}

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


#: How deep a request body may nest arrays and objects (a chat request needs about 6).
MAX_JSON_DEPTH = 64


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


_decoder = json.JSONDecoder(parse_constant=_not_json)


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests containers deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a request body; raises `APIError(400)` naming the offending field."""
    too_deep = False
    try:
        data = _decoder.decode(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:  # nested beyond what the parser can take
        too_deep = True
    if too_deep or json_depth_exceeds(data, MAX_JSON_DEPTH):
        raise APIError(
            400,
            f"request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
            code="invalid_json",
        )
    if not isinstance(data, dict):
        raise APIError(400, "request body must be a JSON object", code="invalid_json")
    if "messages" not in data:
        raise APIError(
            400, "'messages' is required", param="messages", code="missing_required_parameter"
        )
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in _field_path(err["loc"]))
        raise APIError(
            400, f"invalid '{where}': {err['msg']}", param=where, code="invalid_value"
        ) from None
    request._messages = [_clean(m) for m in data["messages"]]
    return request


def _clean(message: dict[str, Any]) -> dict[str, Any]:
    """A validated message as the model gets it: no null fields, and an assistant message
    with tool calls keeps `content: ""` (llama.cpp rejects null)."""
    clean = {k: v for k, v in message.items() if v is not None}
    if clean.get("role") == "assistant" and "content" not in clean:
        clean["content"] = ""
    return clean


def _field_path(loc: tuple[Any, ...]) -> list[Any]:
    """The error location up to the field (pydantic appends union members like `str`)."""
    fields = {*ChatRequest.model_fields, *Message.model_fields, *StreamOptions.model_fields}
    path: list[Any] = []
    for part in loc:
        if not (isinstance(part, int) or part in fields):
            break
        path.append(part)
    return path


def text_of(content: Any) -> str:
    """A message's text (content parts joined; non-text parts skipped)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [
        str(p.get("text", ""))
        for p in content
        if isinstance(p, dict) and p.get("type") in ("text", "input_text")
    ]
    return "\n".join(parts)


# --- responses ------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{unique_hex()}"


def completion(
    id: str, model: str, content: str, usage: dict[str, int], finish_reason: str = "stop"
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }


class ChunkWriter:
    """SSE lines of one streamed completion, each chunk a `chat.completion.chunk`."""

    DONE = b"data: [DONE]\n\n"
    KEEPALIVE = b": keepalive\n\n"

    def __init__(self, id: str, model: str, include_usage: bool) -> None:
        self.id = id
        self.model = model
        self.created = int(time.time())
        self.include_usage = include_usage
        # A content chunk is the same envelope around each text: encoded once, the text
        # spliced in (the bytes `_chunk` would make; tests/runtime/test_chat_api.py).
        head, _, tail = self._chunk(
            [{"index": 0, "delta": {"content": ""}, "logprobs": None, "finish_reason": None}]
        ).partition(b'"content":""')
        self._content_head = head + b'"content":'
        self._content_tail = tail

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            data["usage"] = usage
        return b"data: " + dumps(data) + b"\n\n"

    def role(self) -> bytes:
        delta = {"role": "assistant", "content": ""}
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

    def content(self, text: str) -> bytes:
        return self._content_head + dumps(text) + self._content_tail

    def finish(self, reason: str = "stop") -> bytes:
        return self._chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}])

    def usage(self, usage: dict[str, int]) -> bytes:
        return self._chunk([], usage)

    @staticmethod
    def comment(kind: str, data: dict[str, Any]) -> bytes:
        """A progress line OpenAI clients ignore: `: <kind> <json>` (JSON has no newlines)."""
        return b": " + kind.encode() + b" " + dumps(data) + b"\n\n"

    @staticmethod
    def error(err: APIError) -> bytes:
        """A mid-stream error: the OpenAI SDKs raise `APIError` on a `data: {"error": ...}`."""
        return b"data: " + dumps(err.body()) + b"\n\n"
