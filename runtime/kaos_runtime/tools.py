"""Tools the agent can call, and the two ways a model calls them.

* native: the tools go to the model as OpenAI `tools`; it answers with `tool_calls`.
* string: for small models that cannot call tools natively. The system prompt lists the
  tools and asks for a fenced JSON block ``{"tool": <name>, "arguments": {...}}``; the
  runtime parses it (`StringModeParser`, which also works on a token stream so that
  ordinary text is still streamed as it is produced) and sends the result back as a
  user message.

A tool is anything with a name, a JSON schema and an async `call`: MCP tools
(`mcp_clients`) and delegations to peer agents (`delegation`) look the same here.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .model_client import ToolCallRequest, new_call_id

ToolKind = Literal["mcp", "delegation"]


@dataclass
class ToolOutcome:
    """What a tool call produced: text for the model; `ok=False` marks an error."""

    ok: bool
    text: str
    #: Model calls the tool made on the request's behalf (a delegation: the peer's tree).
    model_calls: int = 0


@dataclass
class CallContext:
    """Per-request facts a tool may need (delegation passes them on to the peer)."""

    session_id: str
    depth: int
    #: The conversation so far as plain user/assistant messages, oldest first.
    conversation: list[dict[str, Any]] = field(default_factory=list)
    #: Model calls a delegation made by this tool call may spend (its share of the budget).
    model_calls: int = 0


ToolFn = Callable[[dict[str, Any], CallContext], Awaitable[ToolOutcome]]


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    kind: ToolKind
    source: str  # the MCP server or the peer agent
    call: ToolFn

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def openai_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    return [tool.openai() for tool in tools]


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


#: Arguments are read without `NaN`/`Infinity` (not JSON, though Python writes them),
#: numbers out of a float's range (`1e999`) and lone surrogates (`\ud800`, valid JSON but
#: not text UTF-8 can carry): nothing after this (the SSE progress, the MCP client, a peer)
#: could write such a value back.
_arguments_decoder = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite)


def loads_arguments(text: str) -> Any:
    """Tool-call arguments as JSON (`ValueError` when they are not JSON that can be re-sent)."""
    value = _arguments_decoder.decode(text)
    if not text.isascii() or "\\u" in text:  # a surrogate comes from an escape or such text
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError(
                "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
            ) from None
    return value


def parse_arguments(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """A tool call's arguments as a dict; raises ValueError with a model-readable reason."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = loads_arguments(raw)
    except ValueError as exc:
        raise ValueError(f"arguments are not valid JSON ({exc}): {raw[:200]}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"arguments must be a JSON object, got {type(value).__name__}")
    return value


# --- string mode -----------------------------------------------------------------------

STRING_MODE_INSTRUCTIONS = """\
You can use tools. To call a tool, answer with only a fenced JSON block like this:
```json
{{"tool": "<tool name>", "arguments": {{<arguments as JSON>}}}}
```
Then wait: the tool's result comes back in the next message. Call one tool per block; \
several blocks call several tools. When you need no tool, answer normally, without a JSON block.

Available tools:
{tools}"""


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def shown_name(name: str) -> str:
    """A tool name as the prompt shows it: as it is, or as a JSON string when it holds
    anything but letters, digits, `_`, `-` and `.` (MCP allows any string)."""
    return name if _PLAIN_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def string_mode_prompt(tools: list[Tool]) -> str:
    lines = []
    for tool in tools:
        schema = json.dumps(tool.parameters.get("properties", {}), ensure_ascii=False)
        required = tool.parameters.get("required") or []
        req = f" (required: {', '.join(required)})" if required else ""
        description = " ".join(tool.description.split())
        lines.append(f"- {shown_name(tool.name)}: {description} Arguments: {schema}{req}")
    return STRING_MODE_INSTRUCTIONS.format(tools="\n".join(lines))


def string_mode_result(name: str, outcome: ToolOutcome) -> str:
    verb = "returned" if outcome.ok else "failed with an error"
    shown = f"`{name}`" if _PLAIN_NAME.fullmatch(name) else shown_name(name)
    return f"Tool {shown} {verb}:\n{outcome.text}"


_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_TOOL_FENCE_LANGS = {"", "json", "tool", "tool_call", "tool_code", "jsonc"}


def calls_from_json(text: str) -> list[ToolCallRequest]:
    """Tool calls in a JSON text (an object or a list of objects), or [] if it is not one."""
    text = text.strip()
    if not text or text[0] not in "[{":
        return []
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = json.loads(_TRAILING_COMMA.sub(r"\1", text))
        except ValueError:
            return []
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            return []
        name = item.get("tool", item.get("name"))
        if not isinstance(name, str) or not name:
            return []
        if "tool" not in item and not ({"arguments", "parameters"} & item.keys()):
            return []  # {"name": ...} alone is data, not a call
        args = item.get("arguments", item.get("parameters", {}))
        if isinstance(args, str):
            with contextlib.suppress(ValueError):  # not JSON: reported when the call runs
                args = json.loads(args) if args.strip() else {}
        calls.append(ToolCallRequest(new_call_id(), name, json.dumps(args, ensure_ascii=False)))
    return calls


class _BlockEnd:
    """Finds the fence that closes a block, reading the block as it streams in.

    A block that starts with `{` or `[` may be a JSON tool call, whose strings can hold
    anything a tool name or argument may hold, backticks and whole fences included: a
    "```" inside a JSON string does not close the block. Once the block cannot be JSON
    (a raw newline or control character inside a string, a backtick outside one) or its
    JSON value is complete, the next "```" closes it, as in Markdown. Reading is
    incremental: each character is looked at once however the text is split.
    """

    def __init__(self, start: int) -> None:
        self.pos = start
        self.mode = "start"  # start | json | plain
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def find(self, buf: str) -> int | None:
        """Index of the closing fence in `buf`, or None while it has not arrived."""
        pos, end = self.pos, len(buf)
        while pos < end:
            ch = buf[pos]
            if self.mode == "start":
                if ch in " \t\r\n":
                    pos += 1
                    continue
                self.mode = "json" if ch in "{[" else "plain"
            if self.mode == "json":
                if self.in_string:
                    if self.escaped:
                        self.escaped = False
                    elif ch == "\\":
                        self.escaped = True
                    elif ch == '"':
                        self.in_string = False
                    elif ch < " ":
                        self.mode = "plain"  # JSON strings hold no raw control characters
                    pos += 1
                    continue
                if ch == '"':
                    self.in_string = True
                elif ch in "{[":
                    self.depth += 1
                elif ch in "}]":
                    self.depth -= 1
                    if self.depth <= 0:
                        self.mode = "plain"  # the JSON value is complete
                elif ch == "`":
                    self.mode = "plain"  # no backtick outside a string: not JSON
            if ch == "`":
                if buf.startswith("```", pos):
                    self.pos = pos
                    return pos
                if buf.endswith("`" * (end - pos)):  # maybe a fence, not all here yet
                    self.pos = pos
                    return None
            pos += 1
        self.pos = pos
        return None


#: The opening fence and its language tag, up to the end of the line or the JSON.
_FENCE_HEADER = re.compile(r"```[^\S\n]*([A-Za-z_]*)[^\S\n]*")

#: The most text held back as a possible tool call. More is no call (it is shown as text):
#: what is held is searched again with every token, and a reply of megabytes held whole
#: cost minutes of CPU (the event loop's, every other request waiting).
MAX_HELD_CHARS = 64 * 1024


class StringModeParser:
    """Separates string-mode tool calls from the text a model streams.

    `feed()` returns the text that is safe to show now; fenced blocks that may be tool
    calls (```json, a bare fence, or JSON on the fence's own line) are held back until
    they close, then either dropped (a tool call, recorded in `calls`) or released (any
    other text). Other fenced blocks (```python ...) stream through. A reply that starts
    with `{` or `[` is held to the end (a bare JSON tool call, common with small models).
    `finish()` releases the rest. Tool names and arguments may contain anything JSON
    strings can, fences included (`_BlockEnd`).
    """

    def __init__(self) -> None:
        self.calls: list[ToolCallRequest] = []
        self._buf = ""
        self._state = "start"  # start | text | header | body | other | bare
        self._body_start = 0
        self._block_end = _BlockEnd(0)

    def feed(self, text: str) -> str:
        self._buf += text
        out: list[str] = []
        while True:
            emitted, progressed = self._step()
            out.append(emitted)
            if not progressed:
                return "".join(out)

    def _open_body(self, start: int) -> tuple[str, bool]:
        self._state = "body"
        self._body_start = start
        self._block_end = _BlockEnd(start)
        return "", True

    def _step(self) -> tuple[str, bool]:
        buf = self._buf
        if self._state == "start":
            stripped = buf.lstrip()
            if not stripped:
                return self._wait("text")
            self._state = "bare" if stripped[0] in "{[" else "text"
            return "", True
        if self._state == "bare":
            return self._wait("text")
        if self._state in ("text", "other"):
            i = buf.find("```")
            if i < 0:
                keep = len(buf) - len(buf.rstrip("`"))
                self._buf = buf[len(buf) - keep :]
                return buf[: len(buf) - keep], False
            if self._state == "other":  # the closing fence of a non-tool block
                self._buf = buf[i + 3 :]
                self._state = "text"
                return buf[: i + 3], True
            self._buf = buf[i:]
            self._state = "header"
            return buf[:i], True
        if self._state == "header":
            header = _FENCE_HEADER.match(buf)
            assert header is not None
            end = header.end()
            if end == len(buf):
                return self._wait("other")  # the language tag may go on
            if buf[end] in "{[":  # JSON on the fence's line: ```json {"tool": ...}```
                return self._open_body(end)
            if buf[end] == "\n":
                if header.group(1).lower() in _TOOL_FENCE_LANGS:
                    return self._open_body(end + 1)
                self._buf = buf[end + 1 :]
                self._state = "other"
                return buf[: end + 1], True
            nl = buf.find("\n", end)
            close = buf.find("```", end)
            if close >= 0 and (nl < 0 or close < nl):  # one line, not JSON: ```foo```
                self._buf = buf[close + 3 :]
                self._state = "text"
                return buf[: close + 3], True
            if nl < 0:
                return self._wait("other")
            self._buf = buf[nl + 1 :]
            self._state = "other"
            return buf[: nl + 1], True
        if self._state == "body":
            j = self._block_end.find(buf)
            if j is None:
                if len(buf) - self._body_start <= MAX_HELD_CHARS:
                    return "", False
                self._buf = buf[self._body_start :]  # no call: the rest streams as text
                self._state = "other"
                return buf[: self._body_start], True
            block, inner = buf[: j + 3], buf[self._body_start : j]
            self._buf = buf[j + 3 :]
            self._state = "text"
            calls = calls_from_json(inner) if len(inner) <= MAX_HELD_CHARS else []
            if calls:
                self.calls.extend(calls)
                return "", True
            return block, True
        raise AssertionError(self._state)

    def _wait(self, otherwise: str) -> tuple[str, bool]:
        """Hold what came so far for more, unless it is over `MAX_HELD_CHARS`: then read
        it in state `otherwise` (as text: `text`, or `other`, a block that is no call)."""
        if len(self._buf) <= MAX_HELD_CHARS:
            return "", False
        self._state = otherwise
        return "", True

    def finish(self) -> str:
        buf, state = self._buf, self._state
        self._buf, self._state = "", "text"
        if state in ("start", "bare"):
            calls = calls_from_json(buf)
            if calls:
                self.calls.extend(calls)
                return ""
            return buf
        if state in ("header", "body"):
            inner = buf[self._body_start :] if state == "body" else _strip_lang(buf[3:])
            calls = calls_from_json(inner.strip().removesuffix("`").rstrip("`"))
            if calls:
                self.calls.extend(calls)
                return ""
        return buf


_LANG_PREFIX = re.compile(r"^\s*[A-Za-z_]*\s*(?=[\[{])")


def _strip_lang(text: str) -> str:
    """`json {...}` -> `{...}` (the language tag of a fence written on one line)."""
    return _LANG_PREFIX.sub("", text, count=1)


def parse_string_mode(text: str) -> tuple[str, list[ToolCallRequest]]:
    """Whole-text version of `StringModeParser`: (visible text, tool calls)."""
    parser = StringModeParser()
    visible = parser.feed(text) + parser.finish()
    return visible, parser.calls
