"""A peer's streamed answer put together from its artifact chunks (`a2a/client._Answer`):
A2A's append semantics, and in linear time however many chunks a peer sends."""

from __future__ import annotations

import time

from a2a.types.a2a_pb2 import (
    Artifact,
    Part,
    StreamResponse,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from kaos_runtime.a2a.client import _Answer


def chunk(text: str, *, append: bool, artifact_id: str = "a") -> StreamResponse:
    artifact = Artifact(artifact_id=artifact_id, name="answer", parts=[Part(text=text)])
    return StreamResponse(
        artifact_update=TaskArtifactUpdateEvent(task_id="t", artifact=artifact, append=append)
    )


def completed() -> StreamResponse:
    status = TaskStatus(state=TaskState.TASK_STATE_COMPLETED)
    return StreamResponse(status_update=TaskStatusUpdateEvent(task_id="t", status=status))


def test_chunks_append_and_a_chunk_without_append_replaces() -> None:
    answer = _Answer()
    for response in (
        chunk("draft", append=False),
        chunk("Hel", append=False),  # a new first chunk: replaces the draft
        chunk("lo", append=True),
        chunk("other", append=False, artifact_id="b"),
        completed(),
    ):
        answer.add(response)
    outcome = answer.outcome("peer", 3)
    assert outcome.ok and outcome.text == "Hello\nother"


def test_many_chunks_are_put_together_in_linear_time() -> None:
    """8,000 chunks of 4 KiB (32 MiB, the most a peer may send): joining them one by one
    copied the answer so far each time (128 GB of copying)."""
    piece = "x" * 4096
    responses = [chunk(piece, append=i > 0) for i in range(8000)]
    answer = _Answer()
    started = time.process_time()
    for response in responses:
        answer.add(response)
    answer.add(completed())
    outcome = answer.outcome("peer", 1)
    elapsed = time.process_time() - started
    assert len(outcome.text) == 8000 * 4096
    assert elapsed < 10, f"{elapsed:.1f}s of CPU"
