"""Noticing a client that went away while its request is being answered.

uvicorn never cancels a handler whose client closed the connection: a plain chat request
would go on with its model calls and tool calls (a connection held, tokens maybe paid for)
until its answer or MODEL_TIMEOUT_SECONDS, for nobody. `unless_gone` runs the work and
cancels it as soon as the ASGI `receive` says `http.disconnect`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client closed its connection before its answer; the work was cancelled."""


async def until_gone(receive: Receive) -> None:
    """Return once the client has gone (call after the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def unless_gone(work: Awaitable[T], receive: Receive) -> T:
    """`work`'s result; `ClientGone` (with `work` cancelled and ended) if the client goes
    first. `work` runs in the calling task; one small task waits for the disconnect and
    cancels it then (as `asyncio.timeout` does: no task, no `wait` per request for `work`)."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        await until_gone(receive)
        gone = True
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone and task.uncancel() == 0:  # our own cancel, not the caller's
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()
