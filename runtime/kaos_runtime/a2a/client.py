"""Delegation over A2A: `message/send` to a peer whose card offers JSON-RPC (a2a-sdk client).

The peer gets what it would get on the OpenAI API, as A2A: the task as the message text,
the session as `contextId`, the conversation so far, the delegation depth + 1 and its share
of the model-call budget (headers and metadata, `wire.py`), the trace context. Its answer is
the task's artifact text; what it spent is its final status metadata (`wire.MODEL_CALLS_KEY`,
charged in full when it does not say). Any failure is a `ToolOutcome` error for the model.

The request goes to the peer's configured base URL, not the card's URL (which may be an
external gateway address). Connections are never reused (see `delegation.py`).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.helpers import get_artifact_text, get_message_text
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, Task, TaskState
from a2a.utils.errors import A2AError
from google.protobuf import json_format

from ..budget import calls_reported
from ..tools import ToolOutcome
from . import wire

TRANSPORT = "JSONRPC"


def client_for(card: dict[str, Any] | None, base_url: str, http: httpx.AsyncClient) -> Any:
    """An a2a-sdk client for a peer whose card offers JSON-RPC; None otherwise."""
    if not card:
        return None
    try:
        parsed = parse_agent_card(dict(card))
    except Exception:  # a card the SDK cannot read: the OpenAI API it is
        return None
    interfaces = [i for i in parsed.supported_interfaces if i.protocol_binding == TRANSPORT]
    if not interfaces:
        return None
    for interface in parsed.supported_interfaces:
        interface.url = base_url + "/"
    config = ClientConfig(streaming=False, httpx_client=http)
    try:
        return ClientFactory(config).create(parsed)
    except ValueError:
        return None


def _request(task: str, session_id: str, metadata: dict[str, Any]) -> SendMessageRequest:
    message = Message(
        role=Role.ROLE_USER,
        message_id=str(uuid.uuid4()),
        context_id=session_id,
        parts=[Part(text=task)],
    )
    message.metadata.update(metadata)
    return SendMessageRequest(message=message)


def _failure_text(task: Task) -> str:
    if task.status.HasField("message"):
        return get_message_text(task.status.message) or "no reason given"
    return "no reason given"


async def send(
    client: Any,
    name: str,
    task: str,
    *,
    session_id: str,
    conversation: list[dict[str, Any]],
    depth: int,
    granted: int,
    headers: dict[str, str],
    timeout: float,
) -> ToolOutcome:
    metadata = {
        wire.DEPTH_KEY: depth,
        wire.BUDGET_KEY: granted,
        wire.CONVERSATION_KEY: conversation,
    }
    context = ClientCallContext(service_parameters=dict(headers), timeout=timeout)
    result: Any = None
    try:
        async for response in client.send_message(
            _request(task, session_id, metadata), context=context
        ):
            result = response
    except A2AClientTimeoutError:  # the peer may still be spending its share
        return ToolOutcome(False, f"agent '{name}' did not answer in time", model_calls=granted)
    except A2AError as exc:  # refused before any task ran (a JSON-RPC error)
        return ToolOutcome(False, f"agent '{name}' refused the task: {exc.message}")
    except A2AClientError as exc:
        cause = exc.__cause__
        spent = 0 if isinstance(cause, httpx.ConnectError) else granted
        if isinstance(cause, httpx.HTTPStatusError):
            detail = f"failed ({cause.response.status_code})"
        elif isinstance(cause, httpx.TransportError):
            detail = f"is unreachable: {cause or type(cause).__name__}"
        else:
            detail = f"sent an unexpected answer: {exc}"
        return ToolOutcome(False, f"agent '{name}' {detail}", model_calls=spent)
    except Exception as exc:  # a body the SDK could not read as A2A
        reason = str(exc)[:200] or type(exc).__name__
        return ToolOutcome(
            False, f"agent '{name}' sent an unexpected answer: {reason}", model_calls=granted
        )
    if result is not None and result.HasField("message"):
        return ToolOutcome(True, get_message_text(result.message), model_calls=granted)
    if result is None or not result.HasField("task"):
        return ToolOutcome(False, f"agent '{name}' sent no answer", model_calls=granted)
    done = result.task
    facts = json_format.MessageToDict(done.metadata) if done.HasField("metadata") else {}
    spent = calls_reported(str(_int(facts.get(wire.MODEL_CALLS_KEY))), granted)
    if done.status.state == TaskState.TASK_STATE_COMPLETED:
        text = "\n".join(get_artifact_text(a) for a in done.artifacts)
        return ToolOutcome(True, text, model_calls=spent)
    error = facts.get(wire.ERROR_KEY)
    status = _int(error.get("status")) if isinstance(error, dict) else None
    state = TaskState.Name(done.status.state).removeprefix("TASK_STATE_").lower()
    how = f"failed ({status})" if status else f"ended {state}"
    return ToolOutcome(False, f"agent '{name}' {how}: {_failure_text(done)}", model_calls=spent)


def _int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
