"""Fault injection: many users at once, and a model API that answers them out of order.

Twenty users, each with a session of their own, ask at the same time through the official
openai SDK (async), half of them streaming; the raw model API (`support.raw_upstream`)
holds each request for a different time, so answers come back in another order than the
requests went out, on connections the runtime's pool hands from one call to the next.
Each user gets their own answer; on the second turn the model sees only that user's own
first turn; memory holds each session's own turns and nothing of another's.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.raw_upstream import Connection, RawUpstream, Request, answer
from support.runtime_harness import InProcessRuntime, agent_env, async_openai_client

USERS = 20
TOKEN = re.compile(r"user-[0-9a-f]{8}")


async def late(conn: Connection, req: Request) -> bool:
    """`fault:late <seconds> <text>`: `<text>` after `<seconds>`."""
    seconds, _, text = req.words.partition(" ")
    await asyncio.sleep(float(seconds))
    await conn.send(answer(req, text))
    return True


@pytest.fixture(scope="module")
def upstream() -> Iterator[RawUpstream]:
    with RawUpstream(faults={"late": late}) as server:
        yield server


@pytest.fixture(scope="module", params=["direct", "litellm"])
def runtime(request, upstream: RawUpstream) -> Iterator[InProcessRuntime]:
    env = agent_env(
        upstream.url,
        MODEL_CLIENT=request.param,
        MODEL_MAX_RETRIES=0,
        MODEL_TIMEOUT_SECONDS=30,
        AGENT_NAME=f"concurrent-{request.param}",
    )
    with InProcessRuntime(env) as rt:
        yield rt


async def _ask(client, session: str, text: str, stream: bool) -> str:
    messages = [{"role": "user", "content": text}]
    headers = {"X-Session-ID": session}
    if stream:
        chunks = await client.chat.completions.create(
            model="m", messages=messages, stream=True, extra_headers=headers
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    result = await client.chat.completions.create(
        model="m", messages=messages, extra_headers=headers
    )
    return result.choices[0].message.content


async def _two_turns(rt: InProcessRuntime) -> list[tuple[str, list[str]]]:
    client = async_openai_client(rt.url, timeout=60)
    users = [f"user-{uuid.uuid4().hex[:8]}" for _ in range(USERS)]
    rng = random.Random(7)
    results = []
    for turn in (1, 2):
        delays = [rng.uniform(0, 1.0) for _ in users]
        texts = [f"turn {turn} of {user}" for user in users]
        answers = await asyncio.gather(
            *(
                _ask(client, f"session-of-{user}", f"fault:late {delay:.3f} {text}", i % 2 == 0)
                for i, (user, delay, text) in enumerate(zip(users, delays, texts, strict=True))
            )
        )
        results.append((turn, users, texts, answers))
    await client.close()
    return [(user, [a[i] for *_, a in results]) for i, user in enumerate(users)]


def test_concurrent_users_never_see_each_others_answers(runtime, upstream):
    first = len(upstream.requests)
    by_user = asyncio.run(_two_turns(runtime))

    for user, answers in by_user:
        assert answers == [f"turn 1 of {user}", f"turn 2 of {user}"]
    # The model read, for each request, one user's messages only.
    for req in upstream.requests[first:]:
        named = {t for m in req.body["messages"] for t in TOKEN.findall(str(m.get("content")))}
        assert len(named) == 1, named
    second_turns = [r for r in upstream.requests[first:] if "turn 2 of" in r.last["content"]]
    assert len(second_turns) == USERS
    for req in second_turns:
        user = TOKEN.search(req.last["content"]).group()
        history = [m["content"] for m in req.body["messages"][:-1]]
        assert f"turn 1 of {user}" in history  # its own first answer, from memory
    # Memory: each session holds its own two turns, nothing else.
    for user, _ in by_user:
        params = {"session_id": f"session-of-{user}"}
        events = httpx.get(runtime.url + "/memory/events", params=params, timeout=10).json()
        events = events["events"]
        contents = [str(e["content"]) for e in events]
        assert [e["type"] for e in events] == ["user_message", "agent_response"] * 2
        assert {t for c in contents for t in TOKEN.findall(c)} == {user}
