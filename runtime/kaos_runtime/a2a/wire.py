"""What kaosgen adds to A2A messages and tasks, and text in and out of A2A parts.

Delegation limits travel as HTTP headers (as on the OpenAI API) and, for A2A clients that
cannot set headers, as message metadata under the keys below; so does the conversation a
delegating agent passes on (the `messages` before the task on the OpenAI API). A task's final status
carries what the request cost (`MODEL_CALLS_KEY`, read by a delegating peer to charge its
budget) and the token usage; a failed task carries the error's status and code.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from a2a.types.a2a_pb2 import Message, Part, Role
from a2a.utils.errors import ContentTypeNotSupportedError
from google.protobuf import json_format

PREFIX = "kaos.tools/"
DEPTH_KEY = PREFIX + "delegationDepth"
BUDGET_KEY = PREFIX + "modelCallBudget"
MODEL_CALLS_KEY = PREFIX + "modelCalls"
USAGE_KEY = PREFIX + "usage"
ERROR_KEY = PREFIX + "error"
#: The conversation so far (user/assistant text turns) a delegating agent passes on, as
#: `messages` before the task on the OpenAI API.
CONVERSATION_KEY = PREFIX + "conversation"
#: The name of the artifact holding the agent's answer.
ANSWER_ARTIFACT = "answer"


def message_text(message: Message) -> str:
    """The text of a message: its text parts, data parts as JSON; files are refused."""
    texts: list[str] = []
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            value = _whole_numbers(json_format.MessageToDict(part.data))
            texts.append(json.dumps(value, ensure_ascii=False, sort_keys=True))
        else:
            raise ContentTypeNotSupportedError(
                f"this agent reads text and data parts, not {kind or 'empty'} parts"
            )
    return "\n".join(texts)


#: Integers a double holds exactly: the largest a data part can carry unchanged.
_EXACT = 2**53


def _whole_numbers(value: Any) -> Any:
    """A data part's numbers as the client wrote them where that can be known: A2A 1.0
    carries data parts as protobuf Structs, whose numbers are doubles, so `1` arrives as
    `1.0`. Whole numbers within 2**53 are given back as integers (beyond that the Struct
    has already lost digits; a client that needs them sends them as strings)."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def metadata_of(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message.metadata) if message.HasField("metadata") else {}


def agent_message(
    task_id: str, context_id: str, text: str, data: dict[str, Any] | None = None
) -> Message:
    """A message from the agent: a text part, and the same facts as a data part."""
    parts = [Part(text=text)]
    if data is not None:
        part = Part(media_type="application/json")
        part.data.struct_value.update(data)
        parts.append(part)
    return Message(
        role=Role.ROLE_AGENT,
        message_id=str(uuid.uuid4()),
        task_id=task_id,
        context_id=context_id,
        parts=parts,
    )


def progress_text(kind: str, data: dict[str, Any]) -> str:
    """One line saying what the agent is doing (the data part has the details)."""
    if kind == "tool_call":
        return f"calling tool {data.get('name')}"
    if kind == "tool_result":
        return f"tool {data.get('name')} {'answered' if data.get('ok') else 'failed'}"
    if kind == "delegation_request":
        return f"delegating to agent {data.get('peer')}"
    if kind == "delegation_response":
        return f"agent {data.get('peer')} {'answered' if data.get('ok') else 'failed'}"
    if kind == "step":
        return f"step {data.get('step')}"
    return kind
