"""What an A2A `message/send` or `message/stream` must satisfy before a task is made.

The same rules as the OpenAI API (app.py), answered as JSON-RPC errors: the session
(`contextId`) is one bounded line of printable ASCII; the delegation depth and model-call
budget come from the `X-KAOS-*` headers or the message metadata (`wire.py`), the deeper
depth and the smaller budget winning when both are given; text (or data) parts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from a2a.types.a2a_pb2 import SendMessageRequest
from a2a.utils.errors import InvalidParamsError, InvalidRequestError
from google.protobuf import json_format
from kaos_contract import env as contract

from ..budget import ModelCallBudget
from . import wire

MAX_SESSION_ID = 256
#: Where the checked request waits for the executor in the call context's state.
STATE_KEY = "kaos.checked"


@dataclass
class CheckedMessage:
    text: str
    depth: int
    budget: ModelCallBudget
    #: Earlier turns the caller passed on (a delegating agent), oldest first.
    conversation: list[dict[str, str]]


def _conversation(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
        isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str)
        for m in value
    ):
        raise InvalidParamsError(
            f"metadata {wire.CONVERSATION_KEY} must be a list of "
            '{"role": "user" | "assistant", "content": <string>} objects'
        )
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _whole(value: Any) -> int | None:
    """An integer from a header (str) or metadata (JSON numbers are floats); None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _values(headers: Mapping[str, str], header: str, metadata: list[dict], key: str) -> list:
    found = [headers[header.lower()]] if header.lower() in headers else []
    return found + [m[key] for m in metadata if key in m]


def check_session(context_id: str) -> None:
    if len(context_id) > MAX_SESSION_ID:
        raise InvalidParamsError(f"contextId longer than {MAX_SESSION_ID} characters")
    if not (context_id.isascii() and context_id.isprintable()):
        raise InvalidParamsError(
            "contextId must be printable ASCII, no control characters (it is the session id, "
            "sent on to peer agents)"
        )


def check_message(
    params: SendMessageRequest, headers: Mapping[str, str], *, max_depth: int, own_budget: int
) -> CheckedMessage:
    if not params.HasField("message"):
        raise InvalidParamsError("params.message is required")
    message = params.message
    if message.context_id:
        check_session(message.context_id)
    text = wire.message_text(message)
    if not text.strip():
        raise InvalidParamsError("the message has no text")
    metadata = [wire.metadata_of(message)]
    if params.HasField("metadata"):
        metadata.append(json_format.MessageToDict(params.metadata))

    depth = 0
    for raw in _values(headers, contract.DELEGATION_DEPTH_HEADER, metadata, wire.DEPTH_KEY):
        value = _whole(raw)
        if value is None or value < 0:
            raise InvalidParamsError(
                f"the delegation depth ({contract.DELEGATION_DEPTH_HEADER} or metadata "
                f"{wire.DEPTH_KEY}) must be a non-negative integer"
            )
        depth = max(depth, value)
    if depth > max_depth:
        raise InvalidRequestError(
            f"delegation refused: this request is hop {depth} of an agent-to-agent chain and "
            f"the limit is {max_depth} (DELEGATION_MAX_DEPTH); agents may be delegating in a loop",
            data={"code": "delegation_depth_exceeded"},
        )

    limit = own_budget
    for raw in _values(headers, contract.MODEL_CALL_BUDGET_HEADER, metadata, wire.BUDGET_KEY):
        value = _whole(raw)
        if value is None or value < 1:
            raise InvalidParamsError(
                f"the model-call budget ({contract.MODEL_CALL_BUDGET_HEADER} or metadata "
                f"{wire.BUDGET_KEY}) must be a positive integer"
            )
        limit = min(limit, value)
    conversation: list[dict[str, str]] = []
    for found in metadata:
        if wire.CONVERSATION_KEY in found:
            conversation = _conversation(found[wire.CONVERSATION_KEY])
    return CheckedMessage(text, depth, ModelCallBudget(limit), conversation)
