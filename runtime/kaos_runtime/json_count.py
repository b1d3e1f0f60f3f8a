"""Counting the objects of a JSON body before a validating parser takes it.

The MCP SDK validates a server's JSON answer with pydantic in the event loop: a tool
result of a million tiny content blocks (30 MB, within the answer bound) held the agent's
loop for 20 s, health probes and every other user with it. The cost is per object, not
per byte, so an answer is refused past `limit` objects. The count is a parse with an
object hook, run in a thread: the hook hands the GIL back to the loop between objects,
and it stops the parse as soon as the limit is passed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class _TooMany(Exception):
    pass


def exceeds(body: bytes, limit: int) -> bool:
    """Whether `body` (JSON) holds more than `limit` objects; False when it is no JSON
    (the parser that reads it says why)."""
    seen = 0

    def hook(pairs: list[tuple[str, Any]]) -> None:
        nonlocal seen
        seen += 1
        if seen > limit:
            raise _TooMany

    try:
        json.loads(body, object_pairs_hook=hook)
    except _TooMany:
        return True
    except (ValueError, RecursionError):
        return False
    return False


async def exceeds_off_loop(body: bytes, limit: int) -> bool:
    """`exceeds`, in a thread: the event loop goes on meanwhile."""
    return await asyncio.to_thread(exceeds, body, limit)
