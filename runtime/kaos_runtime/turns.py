"""Chat requests that arrive together prepare their model calls one after another.

The event loop runs every callback that is ready in one pass. When 32 requests arrive in
one burst, their handlers all run in the same pass, each up to its model call; aiohttp
writes a request from a task of its own (Python < 3.12 has no eager tasks), and those tasks
run in the next pass. So the first request's call left only after the 32nd was prepared,
and every request of the burst waited for all the others (bench/runtime.py: +13 ms to the
first content at 32 streams).

`Turns` lets one request at a time prepare its model call: a request takes its turn once
its body is read, and passes it on as its model call is made (`pass_on`, called by the model
client just before the backend sends). A streamed request makes its call from the task that
relays its answer, one pass later: the requests that arrive meanwhile queue up, and each is
woken as the call before it is sent, to prepare in the next pass just before the task that
writes that call. A burst's calls then leave one by one, each after one other request's
preparation at most, and the median request waits for half of the others instead of all.

A request that is not streamed makes its call within its own step and passes its turn on
before any other could queue: requests that arrive together are still prepared in one pass
(one pass per request cost ~100 us of CPU per request when an instant upstream saturated
the runtime's CPU; the whole answer is what such a client waits for).

A turn is never held across a wait for something else: it is passed on when the request
ends or fails before its model call, and at the latest `HOLD_LIMIT_SECONDS` after it was
taken (a memory store that answers slowly, a code path with no model call).

On Python 3.12+ aiohttp starts the writing task eagerly (the call leaves within the
request's own step) and turns are not used (`NEEDED`).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections import deque

#: Whether model calls wait for the loop's next pass to be written (aiohttp before eager
#: tasks, Python < 3.12).
NEEDED = sys.version_info < (3, 12)

#: The longest one request holds up the next ones (the preparation itself takes well under
#: a millisecond).
HOLD_LIMIT_SECONDS = 0.005

_current: contextvars.ContextVar[Turn | None] = contextvars.ContextVar("turn", default=None)


class Turn:
    """One request's turn; `pass_on` (idempotent) lets the next request start."""

    __slots__ = ("_timer", "_turns", "passed")

    def __init__(self, turns: Turns) -> None:
        self._turns = turns
        self.passed = False
        self._timer = asyncio.get_running_loop().call_later(HOLD_LIMIT_SECONDS, self.pass_on)

    def pass_on(self) -> None:
        """The next request may prepare (woken now, it runs in the loop's next pass)."""
        if self.passed:
            return
        self.passed = True
        self._timer.cancel()
        self._turns._next()


class Turns:
    """Hands out turns in arrival order."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def take(self) -> Turn:
        """Wait for this request's turn; it becomes the current one (see `pass_on`)."""
        if self._held:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._next()  # granted as the request was cancelled: hand it on
                else:
                    self._waiting.remove(waiter)
                raise
        else:
            self._held = True
        turn = Turn(self)
        _current.set(turn)
        return turn

    def _next(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._held = False


def pass_on() -> None:
    """Pass on the current request's turn, if it holds one (the model client calls this
    just before it sends a model call)."""
    turn = _current.get()
    if turn is not None:
        turn.pass_on()
