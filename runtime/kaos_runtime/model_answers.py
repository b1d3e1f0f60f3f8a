"""Reading what a ModelAPI answers: a `chat.completion` body, or an event stream of chunks.

The model API is a peer the runtime does not control; what it sends is checked here, field
by field, before anything reaches the agentic loop or memory:

* JSON is read without `NaN`/`Infinity` (not JSON; they become `null`, as do numbers out
  of a float's range such as `1e999`), so no such value ever reaches memory or a response.
* Fields the runtime uses must have their OpenAI types (`choices` a list of objects,
  `message`/`delta` objects, `content` a string or text parts); anything else is a
  `ModelError` (502) that says which field was wrong.
* Deviations that carry a usable answer are accepted: tool `arguments` sent as a JSON object
  rather than a string, token counts sent as strings or floats (a count that is no number
  counts 0), a `stream: true` request answered by one plain `chat.completion` body.
* A stream must end properly (`data: [DONE]` or a `finish_reason`); a body that holds no
  event stream (HTML, garbage) or stops early is a `ModelError`, never an empty answer.
  Its lines may end with CR, LF or CRLF, as the SSE format allows.
* What is read is bounded (`MAX_ANSWER_BYTES`, `MAX_LINE_BYTES`).
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from .model_client import (
    TRANSIENT_STATUS,
    ModelError,
    ModelTurn,
    ToolCallAccumulator,
    ToolCallRequest,
    Usage,
)
from .model_client import new_call_id as _new_call_id

#: The most a model answer (a body, or a whole stream) may take; a model writes far less.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: The longest line of an event stream (one chunk).
MAX_LINE_BYTES = 4 * 1024 * 1024
_SNIPPET = 200


async def bounded_pieces(
    pieces: AsyncIterable[bytes], limit: int, too_large: Callable[[], Exception]
) -> AsyncIterator[bytes]:
    """`pieces` until more than `limit` bytes came, then `too_large()` is raised: the rest
    is never read (a body streamed by an HTTP client, peer or MCP server alike)."""
    size = 0
    async for piece in pieces:
        size += len(piece)
        if size > limit:
            raise too_large()
        yield piece


def _no_constant(name: str) -> None:
    """`NaN`, `Infinity`, `-Infinity` are not JSON: read as null."""
    return None


def _finite_or_none(text: str) -> float | None:
    """A number out of a float's range (`1e999` reads as infinity): null, like `Infinity`."""
    value = float(text)
    return value if math.isfinite(value) else None


#: One decoder for every answer (`json.loads` with options builds a new one per call).
_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_or_none)


def loads(raw: bytes | str) -> Any:
    """JSON as the model API should have written it, in UTF-8 (`ValueError` when not)."""
    try:
        return _decoder.decode(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def snippet(raw: bytes | str) -> str:
    """The start of a body, for error messages (one line)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else "")


def error_text(body: Any) -> str:
    """The message of an OpenAI-style error body, whatever its shape."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return str(body)


def count(value: Any) -> int:
    """A token count: an integer, or what a server wrote instead (`"12"`, `12.0`); else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float):
        return max(0, int(value)) if math.isfinite(value) else 0
    if isinstance(value, str):
        try:
            return max(0, int(float(value)))
        except ValueError:
            return 0
    return 0


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt = count(raw.get("prompt_tokens"))
    completion = count(raw.get("completion_tokens"))
    total = count(raw.get("total_tokens")) or prompt + completion
    return Usage(prompt, completion, total)


def arguments_text(value: Any) -> str:
    """Tool-call arguments as JSON text (some servers send the object itself)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    raise ModelError(f"model API sent tool-call arguments of type {type(value).__name__}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        raise ModelError(f"model API sent an unexpected answer: {where} is {kind}, not an object")
    return value


def content_text(value: Any) -> str | None:
    """Message content as text: a string, null, or a list of text parts (other parts are
    left out); None when it is none of these."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(part.get("text") or "")
            for part in value
            if isinstance(part, dict) and part.get("type") in ("text", "output_text")
        )
    return None


def _text(value: Any, where: str) -> str:
    text = content_text(value)
    if text is None:
        raise ModelError(
            f"model API sent an unexpected answer: {where} is {type(value).__name__}, not text"
        )
    return text


def _finish(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _choices(body: dict[str, Any], where: str) -> list[Any]:
    choices = body.get("choices")
    if choices is None:
        return []
    if not isinstance(choices, list):
        raise ModelError(f"model API sent an unexpected answer: {where}.choices is not a list")
    return choices


def turn_from_completion(body: Any) -> ModelTurn:
    """A `chat.completion` body as a `ModelTurn` (`ModelError` when it is not one)."""
    body = _object(body, "the body")
    if body.get("error"):
        raise ModelError(f"model API answered with an error: {error_text(body)}")
    choices = _choices(body, "the body")
    if not choices:
        raise ModelError("model API sent an unexpected answer: no choices")
    choice = _object(choices[0], "choices[0]")
    message = _object(choice.get("message"), "choices[0].message")
    calls = []
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise ModelError("model API sent an unexpected answer: message.tool_calls is not a list")
    for index, raw in enumerate(raw_calls):
        call = _object(raw, f"message.tool_calls[{index}]")
        function = _object(call.get("function"), f"message.tool_calls[{index}].function")
        name = function.get("name")
        if isinstance(name, str) and name:
            call_id = call.get("id")
            calls.append(
                ToolCallRequest(
                    call_id if isinstance(call_id, str) and call_id else _new_call_id(),
                    name,
                    arguments_text(function.get("arguments")),
                )
            )
    return ModelTurn(
        content=_text(message.get("content"), "choices[0].message.content"),
        tool_calls=calls,
        usage=usage_of(body.get("usage")),
        finish_reason=_finish(choice.get("finish_reason")),
    )


def turn_from_body(raw: bytes, content_type: str) -> ModelTurn:
    """The answer to a request that was not streamed (a server may stream it anyway)."""
    if "text/event-stream" in content_type:
        reader = StreamReader(content_type)
        reader.feed(raw)
        return reader.result()
    try:
        body = loads(raw)
    except ValueError:
        got = snippet(raw) or "(an empty body)"
        raise ModelError(f"model API answered with a body that is not JSON: {got}") from None
    return turn_from_completion(body)


class StreamReader:
    """An answer to a `stream: true` request, fed the body as it arrives.

    `feed(bytes)` returns the content deltas found so far; `done` turns true at
    `data: [DONE]`; `result()` is the whole turn at the end (or raises `ModelError`). A body
    that starts with `{` (or says `application/json`) is taken as one `chat.completion`:
    a server that does not stream may answer that way, and it is a valid answer.
    """

    def __init__(self, content_type: str = "") -> None:
        self.content_type = content_type.split(";")[0].strip().lower()
        self.done = False
        self._json: list[bytes] | None = None
        self._decided = False
        #: The line not yet ended, in the pieces it came in (joined once it ends: joining
        #: it anew for every piece costs the square of its length).
        self._pending: list[bytes] = []
        self._pending_size = 0
        #: The `data:` lines of the event not yet ended by a blank line (SSE joins them
        #: with "\n": a server may split one chunk across several).
        self._event: list[bytes] = []
        self._event_size = 0
        self._size = 0
        self._head = b""  # the first bytes, for error messages
        self._chunks = 0
        self._content: list[str] = []
        self._calls = ToolCallAccumulator()
        self._usage: Usage | None = None
        self._finish: str | None = None

    def feed(self, piece: bytes) -> list[str]:
        self._size += len(piece)
        if self._size > MAX_ANSWER_BYTES:
            raise ModelError(f"model API answer exceeds {MAX_ANSWER_BYTES} bytes")
        if not self._decided:
            # Leading blank lines (a server's heartbeats) say nothing: the head starts at
            # the first other byte, however many there were.
            self._head = (self._head + piece).lstrip()[:_SNIPPET]
            start = self._head[:1]
            if not start:
                return []
            self._decided = True
            if self.content_type == "application/json" or (
                start == b"{" and self.content_type != "text/event-stream"
            ):
                self._json = []
        if self._json is not None:
            self._json.append(piece)
            return []
        if self.done:
            return []
        if b"\n" not in piece and b"\r" not in piece:
            self._pending.append(piece)
            self._pending_size += len(piece)
            if self._pending_size > MAX_LINE_BYTES:
                raise ModelError(f"model API sent a stream line over {MAX_LINE_BYTES} bytes")
            return []
        data = b"".join((*self._pending, piece)) if self._pending else piece
        if b"\r" in data:  # SSE lines end with CR, LF or CRLF (a CRLF split in two: a blank line)
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        rest = lines.pop()
        self._pending, self._pending_size = ([rest] if rest else []), len(rest)
        if self._pending_size > MAX_LINE_BYTES:
            raise ModelError(f"model API sent a stream line over {MAX_LINE_BYTES} bytes")
        out: list[str] = []
        for line in lines:
            if not line:
                self._dispatch(out)
                if self.done:
                    break
            elif line.startswith(b"data:"):
                self._data_line(line[5:])
                if self._event == [b"[DONE]"]:  # the end, even from a server that holds
                    self._dispatch(out)  # the connection without the blank line after it
                    break
        return out

    def _data_line(self, value: bytes) -> None:
        """One `data:` line of the current event (its one leading space is not data)."""
        value = value[1:] if value.startswith(b" ") else value
        self._event.append(value)
        self._event_size += len(value) + 1
        if self._event_size > MAX_LINE_BYTES:
            raise ModelError(f"model API sent a stream event over {MAX_LINE_BYTES} bytes")

    def _dispatch(self, out: list[str]) -> None:
        """The event a blank line (or the end of the body) ended, as one chunk."""
        if self._event:
            data = b"\n".join(self._event).strip()
            self._event, self._event_size = [], 0
            self._data(data, out)

    def _data(self, data: bytes, out: list[str]) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        if not data:
            return
        try:
            chunk = loads(data)
        except ValueError:
            raise ModelError(f"model API sent a malformed chunk: {snippet(data)}") from None
        chunk = _object(chunk, "a stream chunk")
        if chunk.get("error"):
            raise ModelError(f"model API stream error: {error_text(chunk)}")
        self._chunks += 1
        usage = usage_of(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        for index, raw in enumerate(_choices(chunk, "a stream chunk")):
            choice = _object(raw, f"a stream chunk's choices[{index}]")
            delta = choice.get("delta")
            if delta is None:
                delta = choice.get("message")  # some servers repeat the message shape
            if delta is not None:
                delta = _object(delta, "a stream chunk's delta")
                text = _text(delta.get("content"), "a stream chunk's delta.content")
                if text:
                    self._content.append(text)
                    out.append(text)
                self._tool_calls(delta.get("tool_calls"))
            self._finish = _finish(choice.get("finish_reason")) or self._finish

    def _tool_calls(self, raw_calls: Any) -> None:
        if not raw_calls:
            return
        if not isinstance(raw_calls, list):
            raise ModelError("model API sent an unexpected chunk: delta.tool_calls is not a list")
        for raw in raw_calls:
            call = _object(raw, "a streamed tool call")
            function = call.get("function") or {}
            function = _object(function, "a streamed tool call's function")
            index = call.get("index")
            name = function.get("name")
            call_id = call.get("id")
            self._calls.add(
                index if isinstance(index, int) else None,
                call_id if isinstance(call_id, str) else None,
                name if isinstance(name, str) else None,
                arguments_text(function.get("arguments")),
            )

    def result(self) -> ModelTurn:
        """The answer, once the body ended."""
        if self._json is not None:
            raw = b"".join(self._json)
            try:
                body = loads(raw)
            except ValueError:
                raise ModelError(
                    f"model API answered a streaming request with a body that is neither an "
                    f"event stream nor JSON: {snippet(raw)}"
                ) from None
            return turn_from_completion(body)
        pending = b"".join(self._pending)
        if pending.startswith(b"data:"):  # a last line without its newline
            self._data_line(pending[5:])
        self._pending, self._pending_size = [], 0
        if not self.done:
            self._dispatch([])  # the last event, if the body ended without its blank line
        if not self._chunks and not self.done:
            kind = self.content_type or "no content type"
            got = f": {snippet(self._head)}" if self._head.strip() else " (an empty body)"
            raise ModelError(
                f"model API answered a streaming request with {kind} that holds no event "
                f"stream{got}"
            )
        if not self.done and self._finish is None:
            raise ModelError(
                "model API stream ended before the answer was complete (no finish_reason "
                "and no [DONE])"
            )
        return ModelTurn("".join(self._content), self._calls.result(), self._usage, self._finish)

    @property
    def finished(self) -> bool:
        """True once a chunk said `finish_reason`: the answer is complete, though usage and
        `[DONE]` may follow."""
        return self._finish is not None

    @property
    def whole_body(self) -> bool:
        """True when the answer came as one JSON body rather than a stream."""
        return self._json is not None


def status_error(status: int, raw: bytes, location: str | None = None) -> ModelError:
    """A non-200 answer as the error the agent reports (502, or 504 for a gateway timeout)."""
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return ModelError(
            f"model API answered {status} (a redirect{where}); redirects are not followed: "
            "set MODEL_API_URL to the address that answers",
            upstream_status=status,
        )
    try:
        detail = error_text(loads(raw))
    except ValueError:
        detail = snippet(raw) or "(empty body)"
    return ModelError(
        f"model API answered {status}: {detail}",
        status=504 if status == 504 else 502,
        upstream_status=status,
        transient=status in TRANSIENT_STATUS,
    )
