"""`DEBUG_MOCK_RESPONSES`: scripted model replies, for deterministic end-to-end tests only.

KAOS's runtime reads the same variable, so scenarios written for KAOS agents run unchanged
here. The value is a JSON list of replies served in order, from the first again for every
user request (each chat completion the agent answers); a value that is not a JSON list is
one reply. A reply that is a JSON object with `tool_calls` (`[{"name": ..., "arguments":
{...}}]`) asks for those tool calls (delegations are tools too: `delegate_to_<peer>`);
any other reply is the model's text. Past the end of the list the model answers
`[no more mock responses]`.

Never for production: no model is called, whatever the user asks. kaosgen never renders
the variable unless an Agent's `container.env` sets it.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import AsyncIterator
from typing import Any

from .model_client import ModelTurn, StreamItem, ToolCallRequest, Usage, new_call_id

EXHAUSTED = "[no more mock responses]"

#: The next reply of the current user request (a one-item list, shared by the tasks the
#: request starts); unset outside a request.
_position: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "kaos_mock_position", default=None
)


def parse_mock_responses(raw: str) -> list[str]:
    """The replies `DEBUG_MOCK_RESPONSES` holds (items that are not strings become JSON)."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return [raw]
    if not isinstance(value, list):
        return [raw if isinstance(value, str) else json.dumps(value)]
    return [item if isinstance(item, str) else json.dumps(item) for item in value]


def begin_request() -> None:
    """A user request starts: its model calls take the replies from the first."""
    _position.set([0])


def _arguments(value: Any) -> str:
    """Tool arguments as JSON text: an object, or text that already is JSON."""
    return value if isinstance(value, str) else json.dumps(value or {})


def _loads_or_raw(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _turn(reply: str, native_tools: bool) -> ModelTurn:
    try:
        parsed = json.loads(reply)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("tool_calls"), list):
        calls = [
            ToolCallRequest(
                str(call.get("id") or new_call_id()),
                str(call.get("name", "")),
                _arguments(call.get("arguments")),
            )
            for call in parsed["tool_calls"]
            if isinstance(call, dict)
        ]
        if native_tools:
            return ModelTurn("", calls, Usage(), "tool_calls")
        # String tool-call mode: the calls as the model would write them in text.
        text = "\n".join(
            "```json\n"
            + json.dumps({"tool": c.name, "arguments": _loads_or_raw(c.arguments)})
            + "\n```"
            for c in calls
        )
        return ModelTurn(text, [], Usage(), "stop")
    return ModelTurn(reply, [], Usage(), "stop")


class MockBackend:
    """A `Backend` that answers from the script instead of calling the ModelAPI."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self._outside_request = [0]

    def _next(self) -> str:
        position = _position.get() or self._outside_request
        index = position[0]
        position[0] += 1
        return self.replies[index] if index < len(self.replies) else EXHAUSTED

    async def complete(self, request: dict[str, Any], timeout: float) -> ModelTurn:
        return _turn(self._next(), bool(request.get("tools")))

    async def stream(self, request: dict[str, Any], timeout: float) -> AsyncIterator[StreamItem]:
        turn = _turn(self._next(), bool(request.get("tools")))
        if turn.content:
            yield turn.content
        yield turn

    async def warm_up(self) -> None:
        pass

    async def close(self) -> None:
        pass
