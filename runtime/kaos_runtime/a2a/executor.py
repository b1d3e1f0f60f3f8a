"""The agentic loop as an a2a-sdk `AgentExecutor`: one A2A task is one run of the loop.

The task's `contextId` is the session id, so a task sees and extends the same memory as a
chat completion of that session: the last MEMORY_CONTEXT_LIMIT turns are given to the
model, the user message, tool calls and results, delegations and the answer are recorded
as the same events, and the session can be continued through either API. The model-call
budget and the delegation depth come from `checks.py`.

Events of a task, in order: the task (`submitted`), `working`, one `working` status per
loop progress (a tool call or result, a delegation, a new step; text plus a data part),
then the answer as the artifact `answer` and `completed` (metadata: model calls, usage).
On `message/stream` the answer is sent as the model writes it, in artifact chunks
(`answer_stream.py`); on `message/send` in one piece.
A model failure ends the task `failed` with the error's message, status and code.
`cancel` cancels the running loop (its model call, tool calls and delegations); the SDK
then records the task `canceled`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from a2a.helpers import new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part, TaskState
from a2a.utils.errors import InternalError
from opentelemetry import propagate

from ..app import build_messages, conversation_of, model_failure, response_metadata
from ..loop import Delta, Done, LoopRequest, Progress
from ..model_client import ModelError
from ..tools import CallContext
from . import wire
from .answer_stream import AnswerStream
from .checks import STATE_KEY, CheckedMessage

if TYPE_CHECKING:
    from ..app import Runtime

log = logging.getLogger(__name__)

#: Set in the call context's state by the request handler for `message/stream`.
STREAMING_KEY = "kaos.tools/streaming"


class LoopExecutor(AgentExecutor):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        checked = context.call_context.state.get(STATE_KEY)
        if not isinstance(checked, CheckedMessage) or context.message is None:
            raise InternalError("the request was not checked before execution")
        task_id, session_id = str(context.task_id), str(context.context_id)
        if context.current_task is None:
            task = new_task(
                task_id, session_id, TaskState.TASK_STATE_SUBMITTED, history=[context.message]
            )
            await event_queue.enqueue_event(task)
        self.rt.metrics.in_flight.inc()
        try:
            await self._run(context, checked, TaskUpdater(event_queue, task_id, session_id))
        finally:
            self.rt.metrics.in_flight.dec()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Publish the final `canceled` status on the task's still-open queue, so a client
        streaming the task sees it end; the SDK then cancels the task running `execute`,
        which cancels the loop where it waits (model call, tool calls, delegations).
        (Cancelling `execute` from here too would cancel the SDK's producer a second
        time, inside its clean-up.)"""
        log.info("A2A task %s canceled by the client", context.task_id)
        updater = TaskUpdater(event_queue, str(context.task_id), str(context.context_id))
        await updater.cancel(_message(updater, "canceled by the client"))

    async def _run(
        self, context: RequestContext, checked: CheckedMessage, updater: TaskUpdater
    ) -> None:
        rt = self.rt
        task_id, session_id = updater.task_id, updater.context_id
        depth, budget = checked.depth, checked.budget
        # As on the OpenAI API: the session's turns from memory unless the caller sent its own.
        client_messages = [*checked.conversation, {"role": "user", "content": checked.text}]
        history = [] if checked.conversation else await rt.history(session_id)
        messages = build_messages(rt.settings.agent_instructions, client_messages, history)
        await rt.record(
            session_id, "user_message", checked.text, {"delegation_depth": depth} if depth else None
        )

        async def record(event_type: str, content: Any, metadata: dict | None) -> None:
            await rt.record(session_id, event_type, content, metadata)

        streaming = bool(context.call_context.state.get(STREAMING_KEY))
        answer = AnswerStream(updater) if streaming else None
        loop_request = LoopRequest(
            messages=messages,
            tools=rt.tools(depth),
            stream=streaming,
            context=CallContext(session_id, depth, conversation_of(messages)),
            record=record,
            budget=budget,
        )
        headers = context.call_context.state.get("headers") or {}
        parent = propagate.extract(headers) if headers.get("traceparent") else None
        attributes = {
            "kaos.agent": rt.settings.agent_name,
            "kaos.session_id": session_id,
            "kaos.a2a.task_id": task_id,
            "kaos.delegation_depth": depth,
            "kaos.tools": len(loop_request.tools),
        }
        await updater.start_work()
        done: Done | None = None
        try:
            async for event in rt.run(loop_request, parent, attributes, span_name="a2a.message"):
                if isinstance(event, Progress):
                    text = wire.progress_text(event.kind, event.data)
                    data = {"kind": event.kind, **event.data}
                    await updater.update_status(
                        TaskState.TASK_STATE_WORKING, message=_message(updater, text, data)
                    )
                elif isinstance(event, Delta) and answer is not None:
                    await answer.add(event.text)
                elif isinstance(event, Done):
                    done = event
        except ModelError as exc:
            await model_failure(rt, session_id, exc)
            rt.metrics.a2a_tasks.labels("failed").inc()
            await updater.update_status(
                TaskState.TASK_STATE_FAILED,
                message=_message(updater, exc.message),
                metadata={
                    wire.ERROR_KEY: {"status": exc.status, "code": exc.code},
                    wire.MODEL_CALLS_KEY: budget.used,
                },
            )
            return
        except asyncio.CancelledError:
            if done is None:  # as when a chat client leaves: the session keeps what it was told
                rt.in_background(rt.record(session_id, "agent_response", "", {"cancelled": True}))
            rt.metrics.a2a_tasks.labels("canceled").inc()
            raise
        except Exception as exc:
            log.exception("A2A task %s failed", task_id)
            rt.metrics.errors.labels("internal").inc()
            rt.metrics.a2a_tasks.labels("failed").inc()
            message = f"internal error: {type(exc).__name__}: {exc}"
            await rt.record(session_id, "error", message, None)
            await updater.update_status(
                TaskState.TASK_STATE_FAILED,
                message=_message(updater, message),
                metadata={wire.ERROR_KEY: {"status": 500, "code": "internal_error"}},
            )
            return
        assert done is not None
        rt.metrics.loop_steps.observe(done.steps)
        await rt.record(session_id, "agent_response", done.content, response_metadata(done))
        if answer is not None:
            await answer.finish(done.content)
        else:
            await updater.add_artifact(
                [Part(text=done.content)], name=wire.ANSWER_ARTIFACT, last_chunk=True
            )
        rt.metrics.a2a_tasks.labels("completed").inc()
        await updater.update_status(
            TaskState.TASK_STATE_COMPLETED,
            metadata={
                wire.MODEL_CALLS_KEY: budget.used,
                wire.USAGE_KEY: done.usage.as_dict(),
                "kaos.tools/steps": done.steps,
            },
        )


def _message(updater: TaskUpdater, text: str, data: dict[str, Any] | None = None) -> Any:
    try:
        return wire.agent_message(updater.task_id, updater.context_id, text, data)
    except (ValueError, TypeError):  # facts a Struct cannot hold: the text says enough
        return wire.agent_message(updater.task_id, updater.context_id, text)
