"""Fault injection: a model API that misbehaves, byte by byte, on a raw loopback socket.

Every fault of `support.raw_upstream.FAULTS` is played against the runtime on both model
clients, for a streaming request and a plain one, through the official openai SDK. For each,
the caller gets what it should (the answer when the upstream's reply holds a valid one,
otherwise an OpenAI-shaped 502/504 error), memory holds the matching event, the logs hold no
traceback and no multi-line record, and the next request, from another session, gets its
own answer. `test_an_answer_never_reaches_the_next_user` is the cross-user case the issue
reproduced (three users, each given the previous user's reply).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from support.raw_upstream import FAULTS, MANY_TOOL_CALLS, RawUpstream
from support.runtime_harness import InProcessRuntime, agent_env, openai_client

TIMEOUT = 1.5  # MODEL_TIMEOUT_SECONDS of the runtimes here


@dataclass(frozen=True)
class Answer:
    content: str
    usage: tuple[int, int] | None = None


@dataclass(frozen=True)
class Failure:
    status: int
    says: str  # part of the message
    streamed_after_content: bool = False  # streamed: the error comes after some content

    @property
    def code(self) -> str:
        return "model_timeout" if self.status == 504 else "model_api_error"


def _both(value: Answer | Failure) -> tuple[Answer | Failure, Answer | Failure]:
    return value, value


#: fault -> (outcome of a plain request, outcome of a streaming request)
EXPECTED: dict[str, tuple[Answer | Failure, Answer | Failure]] = {
    "1xx": _both(Answer("the answer after 1xx")),
    "stray-after": _both(Answer("the answer before a stray")),
    "two-in-one": _both(Answer("the first of two answers")),
    "redirect": _both(Failure(502, "redirects are not followed")),
    "empty": (Failure(502, "(an empty body)"), Failure(502, "(an empty body)")),
    "head-like": _both(Failure(502, "received 0 of 345 bytes")),
    "gzip": _both(Answer("gzip decoded")),
    "json-for-stream": _both(Answer("a whole answer, not streamed")),
    "html": _both(Failure(502, "<!DOCTYPE html>")),
    "error-page": _both(Failure(502, "answered 500: <html>")),
    "garbage-status": _both(Failure(502, "invalid HTTP response")),
    "garbage-body": _both(Failure(502, "garbage")),
    "choices-int": _both(Failure(502, "choices[0] is int")),
    "message-string": _both(Failure(502, "is str, not an object")),
    "odd-usage": (Answer("usage is odd", usage=(7, 2)), Answer("usage is odd")),
    "arguments-object": _both(Answer("tool result seen")),
    "arguments-nan": _both(Answer("tool result seen")),
    "arguments-overflow": _both(Answer("tool result seen")),
    "many-tool-calls": _both(Answer("tool result seen")),
    "lone-surrogate": _both(Answer("lone ? surrogate")),  # written as UTF-8 can hold it
    "blank-lines-first": _both(Answer("blank lines first")),
    "nan": (Answer("NaN survived", usage=(0, 0)), Answer("NaN survived")),
    "hang": _both(Failure(504, "did not answer within 1.5s")),
    "trickle": _both(Failure(504, "did not answer within 1.5s")),
    "trickle-tokens": (
        Failure(504, "did not answer within 1.5s"),
        Failure(504, "did not answer within 1.5s", streamed_after_content=True),
    ),
    "reset": _both(Failure(502, "reset")),
    "close": _both(Failure(502, "closed the connection without an answer")),
    "cut-off": (
        Failure(502, "received 141 of 283 bytes"),
        Failure(502, "stream ended before the answer was complete", streamed_after_content=True),
    ),
}


#: fault -> the tool call's arguments as memory records them
RECORDED_ARGUMENTS = {
    "arguments-object": {"q": "x"},  # sent as an object, recorded as the object it was
    "arguments-nan": '{"q": NaN}',  # not JSON: recorded as the text it was
    "arguments-overflow": {"q": None},  # 1e999: out of range, read as null (as NaN is)
}


def test_every_fault_has_an_expectation():
    # These have tests of their own (test_model_connections.py).
    assert set(EXPECTED) == set(FAULTS) - {"close-reused", "slow-end"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[RawUpstream]:
    with RawUpstream() as server:
        yield server


@pytest.fixture(scope="module", params=["direct", "litellm"])
def runtime(request, upstream: RawUpstream) -> Iterator[InProcessRuntime]:
    env = agent_env(
        upstream.url,
        MODEL_CLIENT=request.param,
        MODEL_MAX_RETRIES=0,
        MODEL_TIMEOUT_SECONDS=TIMEOUT,
        AGENT_NAME=f"faults-{request.param}",
    )
    with InProcessRuntime(env) as rt:
        yield rt


def ask(rt: InProcessRuntime, content: str, session: str, stream: bool) -> tuple[str, object]:
    """('answer', (text, usage)) or ('error', (status, error body)), through the SDK."""
    client = openai_client(rt.url, timeout=30)
    messages = [{"role": "user", "content": content}]
    headers = {"X-Session-ID": session}
    try:
        if stream:
            parts = []
            for chunk in client.chat.completions.create(
                model="m", messages=messages, stream=True, extra_headers=headers
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
            return "answer", ("".join(parts), None)
        result = client.chat.completions.create(model="m", messages=messages, extra_headers=headers)
        usage = (result.usage.prompt_tokens, result.usage.completion_tokens)
        return "answer", (result.choices[0].message.content, usage)
    except openai.APIStatusError as exc:
        return "error", (exc.status_code, exc.body)
    except openai.APIError as exc:  # an error event in a stream that had begun (status 200)
        return "error", (200, exc.body)


def assert_only_the_first_calls_ran(upstream: RawUpstream, events: list[dict]) -> None:
    """A step runs at most 64 tool calls; the model reads why the others were not run
    (each call still has its result: OpenAI requires one per call)."""
    assert sum(e["type"] == "tool_call" for e in events) == 64
    assert sum(e["type"] == "tool_result" for e in events) == 64
    results = [m for m in upstream.requests[-1].body["messages"] if m["role"] == "tool"]
    assert len(results) == MANY_TOOL_CALLS
    assert all(r["content"].startswith("Error: unknown tool 'lookup'") for r in results[:64])
    assert all(r["content"] == results[64]["content"] for r in results[64:])
    assert results[64]["content"] == (
        "Error: not run: this step asked for 1000 tool calls and at most 64 run in one step; "
        "ask for the others in the next step"
    )


def events_of(rt: InProcessRuntime, session: str) -> list[dict]:
    params = {"session_id": session, "limit": 10000}
    response = httpx.get(rt.url + "/memory/events", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["events"]


def assert_next_request_gets_its_own_answer(rt: InProcessRuntime, stream: bool) -> None:
    token = f"echo {uuid.uuid4().hex}"
    kind, (text, _) = ask(rt, token, f"next-{uuid.uuid4().hex[:8]}", stream)
    assert (kind, text) == ("answer", token)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_upstream_fault(fault, stream, runtime, upstream, caplog):
    caplog.set_level(logging.INFO)
    expected = EXPECTED[fault][stream]
    session = f"{fault}-{'s' if stream else 'p'}-{uuid.uuid4().hex[:6]}"
    upstream.after_answer.clear()
    started = time.monotonic()

    kind, outcome = ask(runtime, f"fault:{fault}", session, stream)

    elapsed = time.monotonic() - started
    events = events_of(runtime, session)
    if isinstance(expected, Answer):
        assert kind == "answer", outcome
        text, usage = outcome
        assert text == expected.content
        if expected.usage is not None:
            assert usage == expected.usage
        assert events[0]["type"] == "user_message"
        assert events[-1]["type"] == "agent_response"
        assert events[-1]["content"] == expected.content
        if fault == "many-tool-calls":
            assert_only_the_first_calls_ran(upstream, events)
        if fault in RECORDED_ARGUMENTS:  # what the model sent, as JSON can hold it
            call = next(e for e in events if e["type"] == "tool_call")
            assert call["content"] == {"name": "lookup", "arguments": RECORDED_ARGUMENTS[fault]}
    else:
        assert kind == "error", outcome
        status, body = outcome
        error = body.get("error", body)  # the SDK unwraps stream errors
        assert status == (200 if stream and expected.streamed_after_content else expected.status)
        assert error["code"] == expected.code
        assert error["type"] == "upstream_error"
        assert expected.says in error["message"]
        assert [e["type"] for e in events] == ["user_message", "error"]
        assert events[1]["metadata"] == {"status": expected.status, "code": expected.code}
        assert expected.says in events[1]["content"]
        assert elapsed < TIMEOUT + 2.5  # the deadline holds, however the upstream trickles
    # Logs: one line per record, no traceback.
    records = [r for r in caplog.records if r.name.startswith(("kaos_runtime", "uvicorn"))]
    assert not [r for r in caplog.records if r.exc_info or r.stack_info]
    assert all("\n" not in r.getMessage() for r in records)
    if isinstance(expected, Failure):
        assert sum("model API failure" in r.getMessage() for r in records) == 1

    if fault in ("stray-after", "two-in-one"):  # let the stray response land in the pool
        assert upstream.after_answer.wait(5)
        time.sleep(0.1)
    assert_next_request_gets_its_own_answer(runtime, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("fault", ["stray-after", "two-in-one"])
def test_an_answer_never_reaches_the_next_user(fault, stream, runtime, upstream):
    """Three users in turn; after each answer the upstream sends one more response on the
    same connection. Each user gets their own answer, never the one before."""
    for user in range(3):
        mine = f"for user {user} only {uuid.uuid4().hex[:8]}"
        upstream.after_answer.clear()
        kind, (text, _) = ask(runtime, f"fault:{fault} {mine}", f"user-{user}", stream)
        assert (kind, text) == ("answer", mine)
        assert upstream.after_answer.wait(5)
        time.sleep(0.1)  # the extra response reaches the client's pooled connection
        assert events_of(runtime, f"user-{user}")[-1]["content"] == mine


def test_memory_stays_readable_after_every_fault(runtime):
    response = httpx.get(runtime.url + "/memory/events", params={"limit": 10000}, timeout=10)
    assert response.status_code == 200
    assert response.json()["total"] > 0
