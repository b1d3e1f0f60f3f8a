"""POST /v1/chat/completions: OpenAI shapes, streaming as produced, usage, errors."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest
from support.runtime_harness import async_openai_client, openai_client
from support.scripted_model import Reply

BACKENDS = ["litellm", "direct"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_streaming_completion_has_openai_shape_and_real_usage(model, start_runtime, backend):
    model.push(Reply.text("Hello there.", usage=(11, 4)))
    rt = start_runtime(model.url, MODEL_CLIENT=backend, AGENT_INSTRUCTIONS="Be brief.")
    result = openai_client(rt.url).chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "hi"}]
    )
    assert result.object == "chat.completion"
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].message.content == "Hello there."
    assert result.choices[0].finish_reason == "stop"
    assert (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.total_tokens,
    ) == (11, 4, 15)
    sent = model.requests[0]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert sent.get("stream") in (None, False)
    assert "tools" not in sent


@pytest.mark.parametrize("backend", BACKENDS)
def test_stream_delivers_tokens_while_the_model_is_still_producing(model, start_runtime, backend):
    tokens = ("One ", "two ", "three ", "four")
    model.push(Reply.text("".join(tokens), tokens=tokens, token_delay=0.25, usage=(7, 4)))
    rt = start_runtime(model.url, MODEL_CLIENT=backend)
    stream = openai_client(rt.url).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    arrivals: list[tuple[float, str]] = []
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.monotonic(), chunk.choices[0].delta.content))
    produced = model.token_times[0]
    assert [text for _, text in arrivals] == list(tokens)
    # The first token reached the client before the model produced the last one.
    assert arrivals[0][0] < produced[-1]
    assert arrivals[-1][0] - arrivals[0][0] > 0.5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 7 and chunks[-1].usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert model.requests[0]["stream"] is True


def test_stream_without_include_usage_sends_no_usage_chunk(model, start_runtime):
    model.push(Reply.text("a b"))
    rt = start_runtime(model.url)
    chunks = list(
        openai_client(rt.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert all(getattr(c, "usage", None) is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "a b"


def test_raw_sse_is_well_formed_json_for_tricky_content(model, start_runtime):
    tricky = 'It\'s "quoted" \\ back\\slash,\nnew line, {braces}, émoji 🚀, </script>'
    model.push(Reply.text(tricky, tokens=(tricky[:10], tricky[10:30], tricky[30:])))
    rt = start_runtime(model.url)
    with httpx.stream(
        "POST",
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "x"}], "stream": True},
        timeout=10,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    assert events[-1] == "data: [DONE]"
    text = ""
    for block in events[:-1]:
        assert block.startswith("data: ") and "\n" not in block
        text += json.loads(block[6:])["choices"][0]["delta"].get("content", "")
    assert text == tricky


def test_async_sdk_streaming_and_not(model, start_runtime):
    model.push(
        Reply.text("first answer"), Reply.text("second answer", tokens=("second ", "answer"))
    )
    rt = start_runtime(model.url)

    async def run() -> tuple[str, str]:
        client = async_openai_client(rt.url)
        whole = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "1"}]
        )
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "2"}], stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await client.close()
        return whole.choices[0].message.content, "".join(parts)

    assert asyncio.run(run()) == ("first answer", "second answer")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("model_name", "upstream"),
    [
        ("openai/gpt-4o-mini", "openai/gpt-4o-mini"),
        ("ollama/smollm2:135m", "smollm2:135m"),
        ("gpt-4o", "gpt-4o"),
    ],
)
def test_model_is_named_as_the_model_api_knows_it(
    model, start_runtime, backend, model_name, upstream
):
    model.push(Reply.text("ok"))
    rt = start_runtime(model.url, MODEL_NAME=model_name, MODEL_CLIENT=backend)
    openai_client(rt.url).chat.completions.create(
        model="x", messages=[{"role": "user", "content": "q"}]
    )
    assert model.requests[0]["model"] == upstream


def test_sampling_parameters_pass_through_and_client_tools_are_ignored(model, start_runtime):
    model.push(Reply.text("ok"))
    rt = start_runtime(model.url)
    client_tool = {
        "type": "function",
        "function": {"name": "client_side", "parameters": {"type": "object"}},
    }
    response = openai_client(rt.url).chat.completions.with_raw_response.create(
        model="x",
        messages=[
            {"role": "system", "content": "Client system."},
            {"role": "user", "content": "q"},
        ],
        temperature=0.25,
        max_tokens=42,
        stop=["END"],
        tools=[client_tool],
    )
    assert response.headers["x-kaos-client-tools"] == "ignored"
    sent = model.requests[0]
    assert (sent["temperature"], sent["max_tokens"], sent["stop"]) == (0.25, 42, ["END"])
    assert "tools" not in sent  # the client's tools are never offered to the model
    assert sent["messages"][0] == {"role": "system", "content": "Client system."}


def test_instructions_and_client_system_prompt_are_merged_into_one_system_message(
    model, start_runtime
):
    model.push(Reply.text("ok"))
    rt = start_runtime(model.url, AGENT_INSTRUCTIONS="You are the agent.")
    openai_client(rt.url).chat.completions.create(
        model="x",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "q"},
        ],
    )
    assert model.requests[0]["messages"] == [
        {"role": "system", "content": "You are the agent.\n\nAnswer in French."},
        {"role": "user", "content": "q"},
    ]


def test_models_endpoint_lists_the_agent(model, start_runtime):
    rt = start_runtime(model.url, AGENT_NAME="research-lead")
    models = openai_client(rt.url).models.list()
    assert [m.id for m in models.data] == ["research-lead"]


# --- errors --------------------------------------------------------------------------------


def _post(url: str, **kw) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", timeout=10, **kw)


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"model": "x"}', "messages"),
        (b'{"messages": "hi"}', "messages"),
        (b'{"messages": []}', "messages"),
        (b'{"messages": [{"role": "wizard", "content": "x"}]}', "messages.0.role"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages.0.content"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 3}', "n"),
        # Integers no model API takes (the client's mistake, not a 502 from the model API).
        (b'{"messages": [{"role": "user", "content": "x"}], "seed": 18446744073709551616}', "seed"),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1' + b"0" * 30 + b"}",
            "max_tokens",
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 4294967296}',
            "max_completion_tokens",
        ),
    ],
)
def test_bad_requests_get_400_with_an_openai_error_body(model, start_runtime, payload, param):
    rt = start_runtime(model.url)
    response = _post(rt.url, content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = _error(response)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert model.requests == []


def test_sdk_sees_bad_request_errors(model, start_runtime):
    rt = start_runtime(model.url)
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(rt.url).chat.completions.create(
            model="x", messages=[{"role": "user", "content": 1}]
        )  # type: ignore[list-item]
    assert "messages.0.content" in str(info.value)


def test_body_over_the_limit_gets_413_even_without_content_length(model, start_runtime):
    rt = start_runtime(model.url, AGENT_MAX_BODY_BYTES=4096)
    big = json.dumps({"messages": [{"role": "user", "content": "x" * 10_000}]}).encode()
    response = _post(rt.url, content=big)
    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"

    def chunks():
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    chunked = _post(rt.url, content=chunks())  # streamed upload: no Content-Length
    assert chunked.status_code == 413
    small = _post(rt.url, json={"messages": [{"role": "user", "content": "x"}]})
    assert small.status_code != 413
    assert model.pending == 0


def test_model_api_5xx_is_retried_then_answered_502(model, start_runtime):
    model.push(
        Reply.error(503, "overloaded"), Reply.error(500, "still broken"), Reply.error(500, "broken")
    )
    rt = start_runtime(model.url, MODEL_MAX_RETRIES=2)
    with pytest.raises(openai.APIStatusError) as info:
        openai_client(rt.url).chat.completions.create(
            model="x", messages=[{"role": "user", "content": "q"}]
        )
    assert info.value.status_code == 502
    assert "500" in info.value.message and "broken" in info.value.message
    assert len(model.requests) == 3


def test_transient_model_error_is_retried_transparently(model, start_runtime):
    model.push(Reply.error(503, "blip"), Reply.text("recovered"))
    rt = start_runtime(model.url, MODEL_MAX_RETRIES=2)
    result = openai_client(rt.url).chat.completions.create(
        model="x", messages=[{"role": "user", "content": "q"}]
    )
    assert result.choices[0].message.content == "recovered"
    assert len(model.requests) == 2


def test_model_api_4xx_is_not_retried(model, start_runtime):
    model.push(Reply.error(401, "bad key"))
    rt = start_runtime(model.url)
    response = _post(rt.url, json={"messages": [{"role": "user", "content": "q"}]})
    assert response.status_code == 502
    assert "401" in _error(response)["message"]
    assert len(model.requests) == 1


def test_model_api_unreachable_is_502(start_runtime):
    from support.process import free_port

    rt = start_runtime(f"http://127.0.0.1:{free_port()}", MODEL_MAX_RETRIES=0)
    response = _post(rt.url, json={"messages": [{"role": "user", "content": "q"}]})
    assert response.status_code == 502
    assert _error(response)["code"] == "model_api_error"


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_api_timeout_is_504(model, start_runtime, backend):
    model.push(Reply.text("too late", delay=3))
    rt = start_runtime(model.url, MODEL_TIMEOUT_SECONDS=0.5, MODEL_CLIENT=backend)
    started = time.monotonic()
    response = _post(rt.url, json={"messages": [{"role": "user", "content": "q"}]})
    assert response.status_code == 504
    assert _error(response)["code"] == "model_timeout"
    assert time.monotonic() - started < 2.5
    assert len(model.requests) == 1  # a timeout is not retried


def test_streaming_request_whose_model_fails_at_once_gets_a_real_status(model, start_runtime):
    model.push(Reply.error(400, "context window exceeded"))
    rt = start_runtime(model.url)
    with pytest.raises(openai.APIStatusError) as info:
        list(
            openai_client(rt.url).chat.completions.create(
                model="x", messages=[{"role": "user", "content": "q"}], stream=True
            )
        )
    assert info.value.status_code == 502
    assert "context window exceeded" in info.value.message


def test_failure_mid_stream_surfaces_as_an_sdk_error_after_the_tokens_sent(model, start_runtime):
    model.push(Reply.text("partial answer", tokens=("partial ", "answer"), drop_connection=True))
    rt = start_runtime(model.url, MODEL_CLIENT="direct")
    seen = []
    with pytest.raises(openai.APIError):
        for chunk in openai_client(rt.url).chat.completions.create(
            model="x", messages=[{"role": "user", "content": "q"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert seen == ["partial "]


def test_unknown_routes_and_methods_get_json_errors(model, start_runtime):
    rt = start_runtime(model.url)
    missing = httpx.get(rt.url + "/v1/nothing-here")
    assert missing.status_code == 404 and _error(missing)["message"]
    wrong = httpx.get(rt.url + "/v1/chat/completions")
    assert wrong.status_code == 405 and _error(wrong)


def test_a_bug_in_the_chat_path_is_an_openai_500_counted_and_recorded(model, start_runtime):
    rt = start_runtime(model.url)

    async def broken(request, timeout):
        raise RuntimeError("a bug")

    rt.runtime.model.backend.complete = broken
    response = httpx.post(
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "q"}]},
        headers={"X-Session-ID": "bug"},
    )
    assert response.status_code == 500
    assert _error(response)["message"] == "internal error: RuntimeError"
    metrics = httpx.get(rt.url + "/metrics").text
    assert (
        'kaos_agent_requests_total{method="POST",route="/v1/chat/completions",status="500"} 1.0'
        in metrics
    )
    events = httpx.get(rt.url + "/memory/events", params={"session_id": "bug"}).json()["events"]
    assert [e["type"] for e in events] == ["user_message", "error"]
    assert httpx.get(rt.url + "/health").status_code == 200  # and the server keeps serving


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_client_that_goes_away_mid_stream_stops_the_loop_and_keeps_the_partial_answer(
    model, start_runtime, backend
):
    tokens = tuple(f"t{i} " for i in range(20))
    model.push(Reply.text("".join(tokens), tokens=tokens, token_delay=0.1))
    rt = start_runtime(model.url, MODEL_CLIENT=backend)
    with httpx.stream(
        "POST",
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "long"}], "stream": True},
        headers={"X-Session-ID": "gone"},
        timeout=10,
    ) as response:
        for line in response.iter_lines():
            if '"content":"t0 "' in line:
                break
    deadline = time.monotonic() + 3
    while rt.runtime.metrics.in_flight._value.get() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rt.runtime.metrics.in_flight._value.get() == 0
    time.sleep(0.3)
    assert len(model.token_times[0]) < len(tokens)  # the model's stream was closed too
    events = httpx.get(rt.url + "/memory/events", params={"session_id": "gone"}).json()["events"]
    # No dangling user turn: what was streamed is recorded, marked as cut short.
    assert [e["type"] for e in events] == ["user_message", "agent_response"]
    assert events[1]["metadata"] == {"cancelled": True}
    assert events[1]["content"].startswith("t0 ")
    assert len(events[1]["content"]) < len("".join(tokens))


def test_a_slow_first_token_does_not_hold_back_the_response_headers(
    model, start_runtime, monkeypatch
):
    import kaos_runtime.app

    monkeypatch.setattr(kaos_runtime.app, "KEEPALIVE_SECONDS", 0.3)
    model.push(Reply.text("late", delay=2.0))
    rt = start_runtime(model.url)
    started = time.monotonic()
    with httpx.stream(
        "POST",
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "q"}], "stream": True},
        timeout=10,
    ) as response:
        headers_after = time.monotonic() - started
        assert response.status_code == 200
        events = [e for e in response.read().decode().split("\n\n") if e]
    assert headers_after < 1.5  # the model answers after 2 s
    assert '"role":"assistant"' in events[0] and events[1] == ": keepalive"
    assert events[-1] == "data: [DONE]"
    assert any('"content":"late"' in e for e in events)


def test_keepalive_comments_come_only_when_nothing_was_sent_for_a_while(
    model, start_runtime, monkeypatch
):
    import kaos_runtime.app

    monkeypatch.setattr(kaos_runtime.app, "KEEPALIVE_SECONDS", 0.3)
    tokens = tuple(f"t{i} " for i in range(10))
    model.push(Reply.text("".join(tokens), tokens=tokens, token_delay=0.1, delay=0.8))
    rt = start_runtime(model.url)
    with httpx.stream(
        "POST",
        rt.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "q"}], "stream": True},
        timeout=10,
    ) as response:
        events = [e for e in response.read().decode().split("\n\n") if e]
    first_token = next(i for i, e in enumerate(events) if '"content":"t0 "' in e)
    assert ": keepalive" in events[:first_token]  # 0.8 s before the first token
    assert ": keepalive" not in events[first_token:]  # a token every 0.1 s after it
    assert "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content") or ""
        for e in events
        if e.startswith("data: {") and json.loads(e[6:])["choices"]
    ) == "".join(tokens)
    assert events[-1] == "data: [DONE]"


def test_a_body_nested_ten_thousand_deep_is_a_400_not_a_500(model, start_runtime):
    rt = start_runtime(model.url)
    deep = b"[" * 10_000 + b"]" * 10_000
    bodies = [
        deep,
        b'{"messages": [{"role": "user", "content": "x"}], "response_format": ' + deep + b"}",
        b'{"messages": [{"role": "user", "content": ' + b"[{}," * 5000 + b"]" * 5000 + b"}]}",
    ]
    for body in bodies:
        response = _post(rt.url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert _error(response)["code"] == "invalid_json"
    assert model.requests == []
    assert httpx.get(rt.url + "/health").status_code == 200


def test_nan_is_not_json_and_gets_a_400(model, start_runtime):
    rt = start_runtime(model.url)
    body = b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}'
    response = _post(rt.url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "NaN is not a JSON value" in _error(response)["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("backend", ["direct", "litellm"])
def test_a_lone_surrogate_in_a_request_reaches_the_model_replaced_not_a_500(
    model, start_runtime, backend, stream
):
    """`\\ud800` is valid JSON, but no text UTF-8 can carry: the model gets `?` in its
    place (as the runtime writes it in its own answers), and the client its answer."""
    model.default = Reply.text("ok")
    rt = start_runtime(model.url, MODEL_CLIENT=backend, MODEL_MAX_RETRIES=0)
    body = b'{"stream": %s, "messages": [{"role": "user", "content": "hi \\ud800 there"}]}' % (
        b"true" if stream else b"false"
    )
    response = _post(rt.url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert "ok" in response.text
    assert model.requests[-1]["messages"][-1]["content"] == "hi ? there"


@pytest.mark.parametrize(
    "session_id", ["a\r\nX-Injected: yes", "tab\there", "nul\x00", "caf\u00e9", "\u2028"]
)
def test_a_session_id_that_cannot_be_a_header_value_is_refused(model, start_runtime, session_id):
    """The session id goes back in X-Session-ID and on to peers: no header injection."""
    rt = start_runtime(model.url)
    response = _post(
        rt.url, json={"messages": [{"role": "user", "content": "q"}], "session_id": session_id}
    )
    assert response.status_code == 400
    assert _error(response)["param"] == "session_id"
    assert "x-injected" not in response.headers
    assert model.requests == []
