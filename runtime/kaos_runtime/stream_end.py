"""Reading a model's event stream until its answer is complete.

A stream ends at `data: [DONE]` or at the end of its body. Some servers and proxies send
the chunk with `finish_reason` (and the usage after it) and then neither, holding the
connection open. The answer is complete by then: what may still follow gets
`FINISH_GRACE_SECONDS` from the finish (or from the last content after it), not the rest
of the call's deadline (the caller would otherwise wait for it and get a 504 for an
answer it could have had).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from .model_answers import StreamReader

#: How long the rest of a stream (usage, `[DONE]`, its end) may take after `finish_reason`.
FINISH_GRACE_SECONDS = 1.0


async def read_events(
    read: Callable[[], Awaitable[bytes]], reader: StreamReader
) -> AsyncIterator[str]:
    """Feed `reader` what `read()` returns (b"" at the end) and yield the content deltas,
    until `[DONE]`, the end of the body, or the grace after a finish runs out."""
    loop = asyncio.get_running_loop()
    grace_ends: float | None = None
    while not reader.done:
        if grace_ends is None and reader.finished:
            grace_ends = loop.time() + FINISH_GRACE_SECONDS
        if grace_ends is None:
            piece = await read()
        else:
            try:
                async with asyncio.timeout_at(grace_ends):
                    piece = await read()
            except TimeoutError:
                return  # the answer was complete: what did not come is not waited for
        if not piece:
            return
        texts = reader.feed(piece)
        if texts:  # content after a finish (a server that says it too early): more grace
            grace_ends = None
        for text in texts:
            yield text
