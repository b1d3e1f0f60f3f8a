"""A2A over JSON-RPC at `POST /`, served by a2a-sdk: its request handler and dispatcher
(A2A 1.0 methods, and the 0.3 ones: `message/send`, `message/stream`, `tasks/get`,
`tasks/cancel`, `tasks/resubscribe`), our executor (`executor.py`) and task store
(`task_store.py`).

In front of the SDK: the body is read with the same bounds as a chat completion
(AGENT_MAX_BODY_BYTES, AGENT_REQUEST_READ_TIMEOUT_SECONDS), and a message is checked
(`checks.py`) before a task exists, so a refused request is a JSON-RPC error, never a
failed task.
"""

from __future__ import annotations

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
    SendMessageRequest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..app import read_body
from ..openai_api import APIError
from .checks import STATE_KEY, check_message
from .executor import LoopExecutor
from .task_store import create_task_store

if TYPE_CHECKING:
    from a2a.server.events import Event

    from ..app import Runtime

log = logging.getLogger(__name__)

#: JSON-RPC "Invalid Request": what a body that is too large or too slow gets.
INVALID_REQUEST = -32600


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

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Any:
        self._check(params, context)
        return await super().on_message_send(params, context)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        self._check(params, context)
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
        request._body = body  # Starlette's cache of the body: the SDK reads it from there
        return await self.dispatcher.handle_requests(request)

    async def close(self) -> None:
        await self.handler.aclose()
