"""The answer of a `message/stream` task as it is written: artifact chunks, not one
artifact at the end.

A2A streams an artifact as `TaskArtifactUpdateEvent`s with the same artifact id: the first
with `append: false`, the rest `append: true`, the last with `lastChunk: true`. Model
tokens are coalesced (at most one chunk per `FLUSH_SECONDS`, the first at once): every
event is also a save of the whole task to the task store, a Redis write with Redis memory.
The task store keeps the chunks as one text part (`compact_text_parts`), so `tasks/get`
answers as it does for `message/send`.
"""

from __future__ import annotations

import time
import uuid

from a2a.server.tasks import TaskUpdater
from a2a.types.a2a_pb2 import Part, Task

from . import wire

#: The longest a written token waits before it is sent.
FLUSH_SECONDS = 0.05


class AnswerStream:
    """Sends answer text as artifact chunks of one artifact."""

    def __init__(self, updater: TaskUpdater, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.updater = updater
        self.flush_seconds = flush_seconds
        self.artifact_id = str(uuid.uuid4())
        self.started = False
        self._pending: list[str] = []
        self._last_flush = 0.0

    async def add(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            await self._send(last=False)

    async def finish(self, whole: str) -> None:
        """The last chunk; `whole` is the answer, sent in one piece if nothing was streamed."""
        if not self.started:
            self._pending = [whole]
        await self._send(last=True)

    async def _send(self, *, last: bool) -> None:
        text = "".join(self._pending)
        self._pending.clear()
        self._last_flush = time.monotonic()
        await self.updater.add_artifact(
            [Part(text=text)],
            artifact_id=self.artifact_id,
            name=wire.ANSWER_ARTIFACT,
            append=self.started,
            last_chunk=last,
        )
        self.started = True


def _plain_text(part: Part) -> bool:
    return (
        part.WhichOneof("content") == "text"
        and not part.HasField("metadata")
        and not part.filename
        and not part.media_type
    )


def compact_text_parts(task: Task) -> Task:
    """`task` with each artifact's runs of plain text parts joined into one part (the
    chunks of a streamed answer); the task itself is left as it is."""
    if not any(len(a.parts) > 1 for a in task.artifacts):
        return task
    compacted = Task()
    compacted.CopyFrom(task)
    for artifact in compacted.artifacts:
        parts: list[Part] = []
        for part in artifact.parts:
            if parts and _plain_text(part) and _plain_text(parts[-1]):
                parts[-1] = Part(text=parts[-1].text + part.text)
            else:
                parts.append(part)
        if len(parts) != len(artifact.parts):
            del artifact.parts[:]
            artifact.parts.extend(parts)
    return compacted
