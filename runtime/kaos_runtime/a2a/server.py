"""A2A over JSON-RPC at `POST /`, served by a2a-sdk: its request handler and dispatcher
(A2A 1.0 methods, and the 0.3 ones: `message/send`, `message/stream`, `tasks/get`,
`tasks/cancel`, `tasks/resubscribe`), our executor (`executor.py`) and task store
(`task_store.py`).

In front of the SDK: the body is read with the same bounds as a chat completion
(AGENT_MAX_BODY_BYTES, AGENT_REQUEST_READ_TIMEOUT_SECONDS), and a message is checked
(`checks.py`) before a task exists, so a refused request is a JSON-RPC error, never a
failed task. A body nested deeper than a chat request may be (MAX_JSON_DEPTH) is refused
before the SDK parses it. `ListTasks` needs a `contextId`: the endpoint is routed to
clients, and a list of every context would hand one user the others' conversations (a
context id is what gives access to a conversation, as a session id does on the OpenAI API).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    ListTasksRequest,
    ListTasksResponse,
    SendMessageRequest,
)
from a2a.utils.errors import InvalidParamsError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..app import read_body
from ..openai_api import MAX_JSON_DEPTH, APIError, json_depth_exceeds
from .checks import STATE_KEY, check_message
from .executor import STREAMING_KEY, LoopExecutor
from .task_store import create_task_store

if TYPE_CHECKING:
    from a2a.server.events import Event

    from ..app import Runtime

log = logging.getLogger(__name__)

#: JSON-RPC "Invalid Request": what a body that is too large or too slow gets.
INVALID_REQUEST = -32600


#: What the SDK's dispatcher logs, with a traceback, for every malformed request it refuses.
_MALFORMED = (
    "Failed to validate base JSON-RPC request",
    "Failed to parse request params",
    "Failed to validate base JSON-RPC request for v0.3",
)
#: The SDK's loggers that log them: its dispatcher and its A2A 0.3 adapter.
_SDK_LOGGERS = ("a2a.server.routes.jsonrpc_dispatcher", "a2a.compat.v0_3.jsonrpc_adapter")


class OneLineForMalformed(logging.Filter):
    """A malformed request is the client's mistake, answered with a JSON-RPC error: log
    one line, not a traceback per request (cheap requests must not flood the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in _MALFORMED and record.exc_info:
            error = record.exc_info[1]
            record.msg = "A2A: refused a malformed request (%s): %s"
            record.args = (type(error).__name__, str(error).splitlines()[0][:200] if error else "")
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class CheckingRequestHandler(DefaultRequestHandlerV2):
    """a2a-sdk's request handler, with `checks.check_message` before a message runs."""

    def __init__(self, runtime: Runtime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rt = runtime

    def _check(self, params: SendMessageRequest, context: ServerCallContext) -> None:
        settings = self.rt.settings
        context.state[STATE_KEY] = check_message(
            params,
            context.state.get("headers") or {},
            max_depth=settings.delegation_max_depth,
            own_budget=settings.model_call_budget,
        )

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        if not params.context_id:
            raise InvalidParamsError(
                "ListTasks needs a contextId: this agent lists the tasks of one conversation, "
                "never every conversation it holds"
            )
        return await super().on_list_tasks(params, context)

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Any:
        self._check(params, context)
        return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        self._check(params, context)
        context.state[STREAMING_KEY] = True
        async for event in super().on_message_send_stream(params, context):
            yield event


def handler_card(runtime: Runtime) -> AgentCard:
    """What the request handler reads of the card (capabilities); the served card is
    `agent_card.build_card`, whose URL depends on the request."""
    settings = runtime.settings
    return AgentCard(
        name=settings.agent_name,
        description=settings.agent_description or settings.agent_name,
        version="1",
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        supported_interfaces=[
            AgentInterface(url="/", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        skills=[AgentSkill(id="chat", name=settings.agent_name, description="chat", tags=["chat"])],
    )


class A2AServer:
    """The A2A endpoint of one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        settings = runtime.settings
        self.store = create_task_store(runtime.memory, settings.memory_max_sessions)
        self.handler = CheckingRequestHandler(
            runtime,
            agent_executor=LoopExecutor(runtime),
            task_store=self.store,
            agent_card=handler_card(runtime),
        )
        for name in _SDK_LOGGERS:
            sdk_log = logging.getLogger(name)
            if not any(isinstance(f, OneLineForMalformed) for f in sdk_log.filters):
                sdk_log.addFilter(OneLineForMalformed())
        self.dispatcher = JsonRpcDispatcher(request_handler=self.handler, enable_v0_3_compat=True)

    async def endpoint(self, request: Request) -> Response:
        settings = self.rt.settings
        try:
            body = await read_body(
                request, settings.agent_max_body_bytes, settings.agent_request_read_timeout_seconds
            )
        except APIError as exc:
            error = {"code": INVALID_REQUEST, "message": exc.message}
            return JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": error},
                status_code=exc.status,
                headers=exc.headers,
            )
        refused = _too_deep(body)
        if refused is not None:
            return refused
        request._body = body  # Starlette's cache of the body: the SDK reads it from there
        return await self.dispatcher.handle_requests(request)

    async def close(self) -> None:
        await self.handler.aclose()


def _too_deep(body: bytes) -> Response | None:
    """A JSON-RPC error for a body nested deeper than MAX_JSON_DEPTH (the SDK's parser
    would recurse into it and answer an internal error with a traceback in the log)."""
    try:
        data = json.loads(body)
    except RecursionError:
        data, deep = None, True
    except ValueError:  # not JSON at all: the SDK answers -32700 Parse error
        return None
    else:
        deep = json_depth_exceeds(data, MAX_JSON_DEPTH)
    if not deep:
        return None
    error = {
        "code": INVALID_REQUEST,
        "message": f"request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
    }
    request_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": error}, status_code=400)
