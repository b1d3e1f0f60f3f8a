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


@dataclass
class CallContext:
    """Per-request facts a tool may need (delegation passes them on to the peer)."""

    session_id: str
    depth: int
    #: The conversation so far as plain user/assistant messages, oldest first.
    conversation: list[dict[str, Any]] = field(default_factory=list)


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


def parse_arguments(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """A tool call's arguments as a dict; raises ValueError with a model-readable reason."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
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


def string_mode_prompt(tools: list[Tool]) -> str:
    lines = []
    for tool in tools:
        schema = json.dumps(tool.parameters.get("properties", {}), ensure_ascii=False)
        required = tool.parameters.get("required") or []
        req = f" (required: {', '.join(required)})" if required else ""
        lines.append(f"- {tool.name}: {tool.description.strip()} Arguments: {schema}{req}")
    return STRING_MODE_INSTRUCTIONS.format(tools="\n".join(lines))


def string_mode_result(name: str, outcome: ToolOutcome) -> str:
    verb = "returned" if outcome.ok else "failed with an error"
    return f"Tool `{name}` {verb}:\n{outcome.text}"


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


class StringModeParser:
    """Separates string-mode tool calls from the text a model streams.

    `feed()` returns the text that is safe to show now; fenced blocks that may be tool
    calls (```json, or a bare fence) are held back until they close, then either dropped
    (a tool call, recorded in `calls`) or released (any other JSON). Other fenced blocks
    (```python ...) stream through. A reply that starts with `{` or `[` is held to the end
    (a bare JSON tool call, common with small models). `finish()` releases the rest.
    """

    def __init__(self) -> None:
        self.calls: list[ToolCallRequest] = []
        self._buf = ""
        self._state = "start"  # start | text | header | body | other | bare
        self._body_start = 0

    def feed(self, text: str) -> str:
        self._buf += text
        out: list[str] = []
        while True:
            emitted, progressed = self._step()
            out.append(emitted)
            if not progressed:
                return "".join(out)

    def _step(self) -> tuple[str, bool]:
        buf = self._buf
        if self._state == "start":
            stripped = buf.lstrip()
            if not stripped:
                return "", False
            self._state = "bare" if stripped[0] in "{[" else "text"
            return "", True
        if self._state == "bare":
            return "", False
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
            nl = buf.find("\n")
            close = buf.find("```", 3)
            if close >= 0 and (nl < 0 or close < nl):  # a one-line fence: ```json {...}```
                self._buf = buf[close + 3 :]
                self._state = "text"
                calls = calls_from_json(_strip_lang(buf[3:close]))
                if calls:
                    self.calls.extend(calls)
                    return "", True
                return buf[: close + 3], True
            if nl < 0:
                return "", False
            lang = buf[3:nl].strip().lower()
            if lang in _TOOL_FENCE_LANGS:
                self._state = "body"
                self._body_start = nl + 1
                return "", True
            self._buf = ""
            self._state = "other"
            return buf, True
        if self._state == "body":
            j = buf.find("```", self._body_start)
            if j < 0:
                return "", False
            block, inner = buf[: j + 3], buf[self._body_start : j]
            self._buf = buf[j + 3 :]
            self._state = "text"
            calls = calls_from_json(inner)
            if calls:
                self.calls.extend(calls)
                return "", True
            return block, True
        raise AssertionError(self._state)

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
