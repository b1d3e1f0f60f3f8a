"""Fault injection: how a model's event stream ends, and how its lines end.

A model API (or a proxy in front of it) may send the chunk with `finish_reason` and then
neither `data: [DONE]` nor the end of the body, holding the connection open: the answer is
complete, so the caller gets it within a short grace, not a 504 at the deadline. The SSE
format ends lines with CR, LF or CRLF: a stream whose lines end with a lone CR is read like
any other, and an event's JSON may be spread over several `data:` lines (joined with a
newline until the blank line that ends the event). Both model clients, a streaming request and a plain one (the upstream streams
either way), through the official openai SDK; the next request gets its own answer.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import openai
import pytest
from support.raw_upstream import (
    Connection,
    RawUpstream,
    Request,
    chunk,
    chunked_head,
    delta_chunk,
    event,
    response,
    sse,
)
from support.runtime_harness import InProcessRuntime, agent_env, openai_client

TIMEOUT = 20.0  # MODEL_TIMEOUT_SECONDS: far beyond what any answer here may take


async def finish_held_open(conn: Connection, req: Request) -> bool:
    """The answer and its finish_reason (and usage), then nothing, the connection open."""
    body = sse(["finished ", "but open"], done=False)
    await conn.send(chunked_head() + chunk(body))
    return await conn.hold()


async def finish_then_comments(conn: Connection, req: Request) -> bool:
    """The answer and its finish_reason, then a keep-alive comment every 0.1 s, forever."""
    await conn.send(chunked_head() + chunk(sse(["finished ", "then chatty"], done=False)))
    while True:
        await conn.send(chunk(b": ping\n\n"))
        await asyncio.sleep(0.1)


async def finish_early(conn: Connection, req: Request) -> bool:
    """A finish_reason on the first chunk (a buggy server), the rest of the answer slowly
    after it (1.6 s in all), then [DONE]: the whole answer is read."""
    await conn.send(chunked_head())
    await conn.send(chunk(event(delta_chunk({"role": "assistant", "content": "early "}, "stop"))))
    for word in ("finish ", "then ", "more ", "words"):
        await asyncio.sleep(0.4)
        await conn.send(chunk(event(delta_chunk({"content": word}))))
    await conn.send(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return True


def _cr(text: bytes) -> bytes:
    return text.replace(b"\n", b"\r")


async def cr_lines(conn: Connection, req: Request) -> bool:
    """A whole stream whose lines end with a lone CR, as the SSE format allows."""
    await conn.send(
        response(body=_cr(sse(["carriage ", "returns"])), content_type="text/event-stream")
    )
    return True


async def cr_lines_split(conn: Connection, req: Request) -> bool:
    """CR-ended lines cut in odd places, CRLF split between two chunks."""
    body = (
        event(delta_chunk({"role": "assistant", "content": ""})).replace(b"\n", b"\r\n")
        + _cr(event(delta_chunk({"content": "split "})))
        + _cr(event(delta_chunk({"content": "lines"}, "stop")))
        + b"data: [DONE]\r\n\r\n"
    )
    await conn.send(chunked_head())
    for start in range(0, len(body), 7):
        await conn.send(chunk(body[start : start + 7]))
        await asyncio.sleep(0.001)
    await conn.send(b"0\r\n\r\n")
    return True


def _multiline(data: dict) -> bytes:
    """One event whose JSON is spread over several `data:` lines (SSE joins them)."""
    lines = json.dumps(data, indent=1).split("\n")
    return b"".join(f"data: {line}\n".encode() for line in lines) + b"\n"


async def multiline_data(conn: Connection, req: Request) -> bool:
    """Every chunk split across `data:` lines, the body cut in odd places, then [DONE]."""
    body = (
        _multiline(delta_chunk({"role": "assistant", "content": ""}))
        + b": a comment between events\n\n"
        + _multiline(delta_chunk({"content": "several "}))
        + b"event: message\n"
        + _multiline(delta_chunk({"content": "data lines"}, "stop"))
        + b"data: [DONE]\n\n"
    )
    await conn.send(chunked_head())
    for start in range(0, len(body), 11):
        await conn.send(chunk(body[start : start + 11]))
        await asyncio.sleep(0.001)
    await conn.send(b"0\r\n\r\n")
    return True


#: The usage a late usage chunk reports (not the `sse()` default, so that it is told apart).
LATE_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _usage_after(delay: float):
    async def fault(conn: Connection, req: Request) -> bool:
        """The answer and its finish_reason, the usage `delay` s later, then nothing."""
        await conn.send(chunked_head())
        await conn.send(chunk(event(delta_chunk({"role": "assistant", "content": "counted"}))))
        await conn.send(chunk(event(delta_chunk({}, "stop"))))
        await asyncio.sleep(delay)
        await conn.send(
            chunk(event({"object": "chat.completion.chunk", "choices": [], "usage": LATE_USAGE}))
        )
        return await conn.hold()

    return fault


async def done_without_blank_line(conn: Connection, req: Request) -> bool:
    """No finish_reason, `data: [DONE]` without the blank line that ends its event, then
    nothing, the connection open: [DONE] ends the answer all the same."""
    body = event(delta_chunk({"role": "assistant", "content": "done "}))
    body += event(delta_chunk({"content": "without a blank line"}))
    await conn.send(chunked_head() + chunk(body + b"data: [DONE]\n"))
    return await conn.hold()


FAULTS = {
    "finish-held-open": finish_held_open,
    "finish-then-comments": finish_then_comments,
    "finish-early": finish_early,
    "cr-lines": cr_lines,
    "cr-lines-split": cr_lines_split,
    "multiline-data": multiline_data,
    "done-without-blank-line": done_without_blank_line,
}
EXPECTED = {
    "finish-held-open": "finished but open",
    "finish-then-comments": "finished then chatty",
    "finish-early": "early finish then more words",
    "cr-lines": "carriage returns",
    "cr-lines-split": "split lines",
    "multiline-data": "several data lines",
    "done-without-blank-line": "done without a blank line",
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[RawUpstream]:
    usage_faults = {"usage-in-grace": _usage_after(0.4), "usage-after-grace": _usage_after(2.0)}
    with RawUpstream(faults=FAULTS | usage_faults) as server:
        yield server


@pytest.fixture(scope="module", params=["direct", "litellm"])
def runtime(request, upstream: RawUpstream) -> Iterator[InProcessRuntime]:
    env = agent_env(
        upstream.url,
        MODEL_CLIENT=request.param,
        MODEL_MAX_RETRIES=0,
        MODEL_TIMEOUT_SECONDS=TIMEOUT,
        AGENT_NAME=f"stream-ends-{request.param}",
    )
    with InProcessRuntime(env) as rt:
        yield rt


def ask(rt: InProcessRuntime, content: str, stream: bool) -> str:
    client = openai_client(rt.url, timeout=60)
    messages = [{"role": "user", "content": content}]
    headers = {"X-Session-ID": uuid.uuid4().hex}
    if stream:
        parts = client.chat.completions.create(
            model="m", messages=messages, stream=True, extra_headers=headers
        )
        return "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    result = client.chat.completions.create(model="m", messages=messages, extra_headers=headers)
    return result.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_stream_that_ends_oddly_still_answers(fault, stream, runtime):
    started = time.monotonic()
    try:
        text = ask(runtime, f"fault:{fault}", stream)
    except openai.APIError as exc:
        pytest.fail(f"{fault}: {exc}")
    assert text == EXPECTED[fault]
    assert time.monotonic() - started < 5  # a short grace, never the 20 s deadline
    mine = f"echo {uuid.uuid4().hex}"
    assert ask(runtime, mine, stream) == mine


def usage_of(rt: InProcessRuntime, fault: str, stream: bool) -> tuple[str, dict | None]:
    """The answer and the usage the agent reports for it."""
    client = openai_client(rt.url, timeout=60)
    messages = [{"role": "user", "content": f"fault:{fault}"}]
    headers = {"X-Session-ID": uuid.uuid4().hex}
    if stream:
        parts = list(
            client.chat.completions.create(
                model="m",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=headers,
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
        usage = parts[-1].usage
    else:
        result = client.chat.completions.create(model="m", messages=messages, extra_headers=headers)
        text, usage = result.choices[0].message.content, result.usage
    return text, usage.model_dump(include=set(LATE_USAGE)) if usage else None


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_usage_within_the_grace_after_a_finish_is_kept(stream, runtime):
    assert usage_of(runtime, "usage-in-grace", stream) == ("counted", LATE_USAGE)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_usage_later_than_the_grace_is_not_waited_for(stream, runtime):
    """Without [DONE], usage later than the grace is lost: the answer is not held for it."""
    started = time.monotonic()
    text, usage = usage_of(runtime, "usage-after-grace", stream)
    assert text == "counted"
    assert usage == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert time.monotonic() - started < 1.9
