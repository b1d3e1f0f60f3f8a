"""`kaosgen up` on the examples, as real processes: the rendered env, commands, ports and
probes run. Agents answer from DEBUG_MOCK_RESPONSES (set in the copy's `container.env`, as
KAOS scenarios do) or from the scripted model server behind `--model-url`; the LiteLLM
proxy of a Proxy ModelAPI is the real one. Clients are the official `openai` SDK."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from support.scripted_model import Reply, ScriptedModel
from support.up import (
    alive,
    copy_example,
    descendants,
    mock_responses,
    require_litellm_proxy,
    require_redis_server,
    run_up,
    running_up,
    set_container_env,
)

#: Agents of each example, and what else the example needs to run here.
EXAMPLES = {
    "echo": ["echo-agent"],
    "custom-tools": ["text-agent"],
    "multi-agent": ["coordinator", "researcher", "calculator"],
    "hierarchy": [
        "research-lead",
        "analysis-manager",
        "writing-manager",
        "data-worker",
        "stats-worker",
        "editor-worker",
    ],
}


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedModel]:
    with ScriptedModel(default=Reply.text("from the scripted model")) as model:
        yield model


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=60, max_retries=0)


def events(url: str, session: str | None = None) -> list[dict[str, Any]]:
    """An agent's memory events (GET /memory/events), one session's or all."""
    params = {"session_id": session} if session else {}
    response = requests.get(f"{url}/memory/events", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["events"]


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_smoke_runs_every_example(example: str, tmp_path: Path, scripted: ScriptedModel) -> None:
    project = copy_example(example, tmp_path / example)
    args = [str(project), "--smoke", "--model-url", scripted.url]
    for agent in EXAMPLES[example]:
        replies: list[str | dict[str, Any]] = [f"{agent} is up"]
        if example == "echo":  # first a call of the echo tool (the MCP server process)
            replies.insert(0, {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]})
        set_container_env(
            project, "Agent", agent, {"DEBUG_MOCK_RESPONSES": mock_responses(*replies)}
        )
    if example == "multi-agent":
        require_redis_server()
        (tmp_path / "secrets.env").write_text("KAOS_REDIS_PASSWORD=local-only\n", encoding="utf-8")
        args += ["--env-file", str(tmp_path / "secrets.env")]
    if example == "hierarchy":
        require_litellm_proxy()
        (tmp_path / "secrets.env").write_text("LLM_PROVIDER_API_KEY=sk-unused\n", encoding="utf-8")
        args += ["--env-file", str(tmp_path / "secrets.env")]
    requests_before = len(scripted.requests)
    proc = run_up(*args, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    for agent in EXAMPLES[example]:
        assert f"smoke: agent-{agent} answered: {agent} is up" in output, output
    assert len(scripted.requests) == requests_before  # the mocks answered, not a model
    assert "Traceback" not in output
    if example == "hierarchy":
        assert re.search(r"modelapi-llm-proxy: Proxy ModelAPI runs as LiteLLM proxy", output)
    else:
        assert "Hosted ModelAPI runs as --model-url" in output


def _multi_agent_model(body: dict[str, Any]) -> Reply:
    """The coordinator delegates to the researcher, who calls `lookup` (string tool-call
    mode, as the example configures it); each answers with what came back."""
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    last = body["messages"][-1]
    if "You coordinate a team" in system:
        if last["role"] == "tool":
            return Reply.text(f"The researcher says: {last['content']}")
        return Reply.tool_call("delegate_to_researcher", {"task": "Look up kaos."})
    if "Look things up" in system:
        if "KAOS runs AI agents" in json.dumps(body["messages"][1:]):
            return Reply.text(f"Found: {last['content']}")
        return Reply.text('```json\n{"tool": "lookup", "arguments": {"topic": "kaos"}}\n```')
    return Reply.text("unexpected")


def test_tool_call_delegation_memory_and_ctrl_c(tmp_path: Path) -> None:
    """multi-agent through the scripted model: the coordinator delegates to the researcher
    over the rendered env, the researcher's tool call reaches the rendered MCP server
    process, the answer comes back up; memory has both; Ctrl-C leaves no process."""
    require_redis_server()
    project = copy_example("multi-agent", tmp_path / "multi-agent")
    secrets = tmp_path / "secrets.env"
    secrets.write_text("KAOS_REDIS_PASSWORD=local-only\n", encoding="utf-8")
    with (
        ScriptedModel(default=_multi_agent_model) as model,
        running_up(
            str(project), "--model-url", model.url, "--env-file", str(secrets), cwd=tmp_path
        ) as up,
    ):
        assert set(up.urls) == {
            "agent-calculator",
            "agent-coordinator",
            "agent-researcher",
            "kaos-redis",
            "mcpserver-math-tools",
            "mcpserver-search-tools",
            "modelapi-ollama",
        }
        answer = client(up.urls["agent-coordinator"]).chat.completions.create(
            model="coordinator",
            messages=[{"role": "user", "content": "What is kaos?"}],
            extra_headers={"X-Session-ID": "up-session"},
        )
        text = answer.choices[0].message.content or ""
        assert "KAOS runs AI agents on Kubernetes." in text, text
        assert text.startswith("The researcher says:")
        coordinator = {e["type"] for e in events(up.urls["agent-coordinator"], "up-session")}
        assert {"user_message", "delegation_request", "delegation_response"} <= coordinator
        researcher = events(up.urls["agent-researcher"])
        assert {"tool_call", "tool_result"} <= {e["type"] for e in researcher}, researcher
        results = [json.dumps(e) for e in researcher if e["type"] == "tool_result"]
        assert any("KAOS runs AI agents" in r for r in results), results

        children = descendants(up.popen.pid)
        assert len(children) >= 6  # redis, 2 MCP servers, 3 agents (and their children)
        assert up.stop(signal.SIGINT) == 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)], up.output[-3000:]


def test_sigterm_stops_everything_and_exits_0(tmp_path: Path, scripted: ScriptedModel) -> None:
    project = copy_example("echo", tmp_path / "echo")
    with running_up(str(project), "--model-url", scripted.url, cwd=tmp_path) as up:
        children = descendants(up.popen.pid)
        assert children
        assert up.stop(signal.SIGTERM) == 0
    time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)]
    assert "stopping..." in up.output


def test_missing_secret_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    project = copy_example("multi-agent", tmp_path / "multi-agent")
    started = time.monotonic()
    proc = run_up(str(project), "--model-url", "http://127.0.0.1:9", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "nothing was started" in proc.stderr
    assert "Secret kaos-redis" in proc.stderr and "KAOS_REDIS_PASSWORD" in proc.stderr
    assert "agent-coordinator" in proc.stderr
    assert " | " not in proc.stdout  # no process wrote a line
    assert time.monotonic() - started < 30
