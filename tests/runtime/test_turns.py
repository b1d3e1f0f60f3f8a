"""Requests of a burst prepare their model calls in turn (`kaos_runtime.turns`)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest
from kaos_runtime import turns
from kaos_runtime.turns import Turns, pass_on
from support.scripted_model import Reply


async def _request(
    gate: Turns, name: str, log: list[str], started: asyncio.Event | None = None
) -> None:
    """What a streamed chat request does: take its turn, prepare, hand the call to the task
    that relays the answer (which passes the turn on as it sends; the write runs from a
    task of its own, as aiohttp's does)."""
    await gate.take()
    log.append(f"prepare {name}")
    if started is not None:
        started.set()
    await asyncio.get_running_loop().create_task(_call(name, log))


async def _call(name: str, log: list[str]) -> None:
    pass_on()
    asyncio.get_running_loop().create_task(_write(name, log))
    await asyncio.sleep(0.01)  # waiting for the model's answer


async def _write(name: str, log: list[str]) -> None:
    log.append(f"write {name}")


def test_a_burst_of_streams_prepares_one_at_a_time_each_call_written_one_request_later():
    async def main() -> list[str]:
        gate, log = Turns(), []
        await asyncio.gather(*(_request(gate, str(i), log) for i in range(4)))
        assert not gate._held and not gate._waiting
        return log

    log = asyncio.run(main())
    # Each call is written right after the next request prepared (the burst arrived in one
    # pass; without turns every call waits for the last preparation, see below).
    assert log == [
        "prepare 0",
        "prepare 1",
        "write 0",
        "prepare 2",
        "write 1",
        "prepare 3",
        "write 2",
        "write 3",
    ]


def test_without_turns_a_burst_writes_its_first_call_after_the_last_was_prepared():
    """What turns are for: the same burst, each request preparing as soon as it runs."""

    async def request(name: str, log: list[str]) -> None:
        log.append(f"prepare {name}")
        asyncio.get_running_loop().create_task(_write(name, log))
        await asyncio.sleep(0.01)

    async def main() -> list[str]:
        log: list[str] = []
        await asyncio.gather(*(request(str(i), log) for i in range(4)))
        return log

    log = asyncio.run(main())
    assert log.index("write 0") > log.index("prepare 3")


def test_a_request_cancelled_while_waiting_or_as_its_turn_comes_does_not_stop_the_others():
    async def main() -> list[str]:
        gate, log, release = Turns(), [], asyncio.Event()

        async def holder() -> None:
            await gate.take()
            log.append("prepare a")
            await release.wait()
            pass_on()

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(_request(gate, "cancelled", log))
        granted = asyncio.create_task(_request(gate, "granted then cancelled", log))
        last = asyncio.create_task(_request(gate, "b", log))
        await asyncio.sleep(0)
        assert len(gate._waiting) == 3
        waiting.cancel()
        release.set()
        while not granted._fut_waiter or not granted._fut_waiter.done():  # type: ignore[attr-defined]
            await asyncio.sleep(0)
        granted.cancel()  # its turn came: the cancellation must hand it on
        await asyncio.gather(first, last)
        for task in (waiting, granted):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert not gate._held and not gate._waiting
        return log

    log = asyncio.run(main())
    assert [line for line in log if line.startswith("prepare")] == ["prepare a", "prepare b"]


def test_a_turn_never_passed_on_is_passed_on_after_the_hold_limit():
    async def main() -> float:
        gate = Turns()
        await gate.take()  # and never passes it on (a request stuck before its model call)
        started = time.monotonic()
        second = asyncio.Event()
        await asyncio.wait_for(_request(gate, "next", [], second), 1)
        return time.monotonic() - started

    assert asyncio.run(main()) < turns.HOLD_LIMIT_SECONDS + 0.5


def test_pass_on_without_a_turn_does_nothing_and_twice_is_once():
    async def main() -> None:
        pass_on()  # no request's turn in this context
        gate = Turns()
        turn = await gate.take()
        turn.pass_on()
        turn.pass_on()
        await asyncio.sleep(0)
        assert not gate._held
        second = await gate.take()  # free again, at once
        assert gate._held and not second.passed

    asyncio.run(main())


# --- through the runtime -------------------------------------------------------------------


def _chat(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        content=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=10,
    )


@pytest.mark.skipif(not turns.NEEDED, reason="aiohttp writes calls eagerly on Python 3.12+")
def test_requests_that_fail_before_their_model_call_or_leave_keep_no_turn_held(
    model, start_runtime, monkeypatch
):
    # No safety net: a turn kept by a failed request would stall the rest of the burst.
    monkeypatch.setattr(turns, "HOLD_LIMIT_SECONDS", 60.0)
    model.default = Reply.text("ok")
    rt = start_runtime(model.url, MODEL_CALL_BUDGET="3")
    ok = json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:

            async def post(body: bytes, headers: dict[str, str] | None = None) -> int:
                response = await client.post(
                    rt.url + "/v1/chat/completions",
                    content=body,
                    headers={"Content-Type": "application/json", **(headers or {})},
                )
                return response.status_code

            return await asyncio.gather(
                post(ok),
                post(b"{not json"),  # 400 before the model call
                post(ok, {"X-KAOS-Model-Call-Budget": "0"}),  # refused: no budget
                post(b'{"messages": []}'),
                *(post(ok) for _ in range(8)),
            )

    statuses = asyncio.run(burst())
    assert statuses[1:4] == [400, 400, 400]
    assert statuses.count(200) == 9
    # A client that leaves before its answer: its turn is not kept either.
    with socket.create_connection(("127.0.0.1", rt.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(ok), ok)
        )
    gate = rt.runtime.turns
    deadline = time.monotonic() + 3
    while (gate._held or gate._waiting) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not gate._held and not gate._waiting
    assert _chat(rt.url, ok).status_code == 200  # and the next request is served
