"""Delegation over A2A: `message/send` to a peer whose card offers JSON-RPC (a2a-sdk client).

The peer gets what it would get on the OpenAI API, as A2A: the task as the message text,
the session as `contextId`, the conversation so far, the delegation depth + 1 and its share
of the model-call budget (headers and metadata, `wire.py`), the trace context. Its answer is
the task's artifact text; what it spent is its final status metadata (`wire.MODEL_CALLS_KEY`,
charged in full when it does not say). Any failure is a `ToolOutcome` error for the model.

The request is streamed (`message/stream`) when the card offers streaming, so the task id
is known from the first event: when our own request is canceled, times out, or the peer's
stream breaks off (or ends with the task still running), the peer's task is canceled
(`tasks/cancel`, in the background): half an answer is an error, never the answer. It goes to the peer's configured base
URL, not the card's URL (which may be an external gateway address). Connections are never
reused and answers are bounded (see `peer_http.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import httpx
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.helpers import get_artifact_text, get_message_text
from a2a.types.a2a_pb2 import CancelTaskRequest, Message, Part, Role, SendMessageRequest, TaskState
from a2a.utils.errors import A2AError
from google.protobuf import json_format

from ..budget import calls_reported
from ..peer_http import AnswerTooLarge
from ..tools import ToolOutcome
from . import wire

TRANSPORT = "JSONRPC"
#: How long the `tasks/cancel` sent to a peer whose task we no longer want may take.
CANCEL_TIMEOUT_SECONDS = 10.0


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
    config = ClientConfig(streaming=True, httpx_client=http)  # if the card offers it
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
    background: set[asyncio.Task[Any]],
) -> ToolOutcome:
    metadata = {
        wire.DEPTH_KEY: depth,
        wire.BUDGET_KEY: granted,
        wire.CONVERSATION_KEY: conversation,
    }
    context = ClientCallContext(service_parameters=dict(headers), timeout=timeout)
    answer = _Answer()
    try:
        async for response in client.send_message(
            _request(task, session_id, metadata), context=context
        ):
            answer.add(response)
    except asyncio.CancelledError:  # our request was canceled: so is the peer's task
        answer.abandon(client, timeout, background)
        raise
    except A2AClientTimeoutError:  # the peer may still be spending its share: it stops
        answer.abandon(client, timeout, background)
        return ToolOutcome(False, f"agent '{name}' did not answer in time", model_calls=granted)
    except A2AClientError as exc:  # a subclass of A2AError: caught first
        cause = exc.__cause__
        spent = 0 if isinstance(cause, httpx.ConnectError) else granted
        if isinstance(cause, AnswerTooLarge):
            detail = f"sent an {cause}"
        elif isinstance(cause, httpx.HTTPStatusError):
            detail = f"failed ({cause.response.status_code})"
        elif isinstance(cause, httpx.TransportError) and answer.started:
            answer.abandon(client, timeout, background)
            detail = f"broke off its answer: {cause or type(cause).__name__}"
        elif isinstance(cause, httpx.TransportError):
            detail = f"is unreachable: {cause or type(cause).__name__}"
        else:
            detail = f"sent an unexpected answer: {exc}"
        return ToolOutcome(False, f"agent '{name}' {detail}", model_calls=spent)
    except A2AError as exc:  # refused before any task ran (a JSON-RPC error)
        return ToolOutcome(False, f"agent '{name}' refused the task: {exc.message}")
    except Exception as exc:  # a body the SDK could not read as A2A
        reason = str(exc)[:200] or type(exc).__name__
        return ToolOutcome(
            False, f"agent '{name}' sent an unexpected answer: {reason}", model_calls=granted
        )
    if answer.unfinished:  # the stream ended, the task still running: it stops
        answer.abandon(client, timeout, background)
    return answer.outcome(name, granted)


_ENDED = {
    TaskState.TASK_STATE_COMPLETED,
    TaskState.TASK_STATE_FAILED,
    TaskState.TASK_STATE_CANCELED,
    TaskState.TASK_STATE_REJECTED,
}
#: States a task waits in for its client (an answer of sorts: the stream may end there).
_INTERRUPTED = {TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED}


class _Answer:
    """A peer's answer, put together from `message/send`'s task or `message/stream`'s
    events (the task, status updates, artifact chunks)."""

    def __init__(self) -> None:
        self.task_id = ""
        self.state: int | None = None
        self.facts: dict[str, Any] = {}
        #: Each artifact's text pieces, joined at the end (chunks appended one by one
        #: would copy the answer so far for each: quadratic in a peer's chunk count).
        self.artifacts: dict[str, list[str]] = {}
        self.status_text = ""
        self.message: str | None = None

    def add(self, response: Any) -> None:
        kind = response.WhichOneof("payload")
        if kind == "message":
            self.message = get_message_text(response.message)
        elif kind == "task":
            task = response.task
            self.task_id = task.id
            self._status(task.status, task.metadata if task.HasField("metadata") else None)
            for artifact in task.artifacts:
                self.artifacts[artifact.artifact_id] = [get_artifact_text(artifact)]
        elif kind == "status_update":
            event = response.status_update
            self.task_id = self.task_id or event.task_id
            self._status(event.status, event.metadata if event.HasField("metadata") else None)
        elif kind == "artifact_update":
            event = response.artifact_update
            text = get_artifact_text(event.artifact)
            pieces = self.artifacts.get(event.artifact.artifact_id) if event.append else None
            if pieces is None:
                self.artifacts[event.artifact.artifact_id] = [text]
            else:
                pieces.append(text)

    @property
    def started(self) -> bool:
        """Whether the peer had begun to answer (a task or a message came)."""
        return bool(self.task_id) or self.message is not None

    @property
    def unfinished(self) -> bool:
        """A task whose stream ended while it was still running (submitted, working)."""
        return (
            self.message is None
            and self.state is not None
            and self.state not in _ENDED
            and self.state not in _INTERRUPTED
        )

    def abandon(self, client: Any, timeout: float, background: set[asyncio.Task[Any]]) -> None:
        """Cancel the peer's task, if it is still running (in the background)."""
        if self.task_id and self.state not in _ENDED:
            _in_background(_cancel(client, self.task_id, timeout), background)

    def _status(self, status: Any, metadata: Any) -> None:
        self.state = status.state
        if status.HasField("message"):
            self.status_text = get_message_text(status.message)
        if metadata is not None:
            self.facts.update(json_format.MessageToDict(metadata))

    def outcome(self, name: str, granted: int) -> ToolOutcome:
        if self.message is not None:
            return ToolOutcome(True, self.message, model_calls=granted)
        if self.state is None:
            return ToolOutcome(False, f"agent '{name}' sent no answer", model_calls=granted)
        spent = calls_reported(str(_int(self.facts.get(wire.MODEL_CALLS_KEY))), granted)
        if self.state == TaskState.TASK_STATE_COMPLETED:
            answer = "\n".join("".join(pieces) for pieces in self.artifacts.values())
            return ToolOutcome(True, answer, model_calls=spent)
        if self.unfinished:
            state = TaskState.Name(self.state).removeprefix("TASK_STATE_").lower()
            return ToolOutcome(
                False,
                f"agent '{name}' broke off its answer: its stream ended with the task {state}",
                model_calls=granted,
            )
        error = self.facts.get(wire.ERROR_KEY)
        status = _int(error.get("status")) if isinstance(error, dict) else None
        state = TaskState.Name(self.state).removeprefix("TASK_STATE_").lower()
        how = f"failed ({status})" if status else f"ended {state}"
        reason = self.status_text or "no reason given"
        return ToolOutcome(False, f"agent '{name}' {how}: {reason}", model_calls=spent)


async def _cancel(client: Any, task_id: str, timeout: float) -> None:
    context = ClientCallContext(timeout=min(timeout, CANCEL_TIMEOUT_SECONDS))
    with contextlib.suppress(Exception):  # best effort: the peer may be gone
        await client.cancel_task(CancelTaskRequest(id=task_id), context=context)


def _in_background(coro: Any, background: set[asyncio.Task[Any]]) -> None:
    task = asyncio.ensure_future(coro)
    background.add(task)
    task.add_done_callback(background.discard)


def _int(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
