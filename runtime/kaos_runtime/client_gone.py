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
    first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_gone(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done() and not watcher.done():  # we were cancelled ourselves
            task.cancel()
        watcher.cancel()
    if not task.done():
        task.cancel()
        await asyncio.wait((task,))  # ended, however it ends: nobody is told
        if not task.cancelled():
            task.exception()  # retrieved, so never logged as "never retrieved"
        raise ClientGone
    return task.result()
