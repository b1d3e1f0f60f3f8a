"""The A2A card, /health, /ready and /metrics."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3.types import AgentCard as AgentCardV03
from kaos_contract.version import kaosgen_version
from support.fastmcp_thread import ThreadedMcpServer
from support.process import free_port
from support.runtime_harness import openai_client
from support.scripted_model import Reply, ScriptedModel

CARD_PATHS = ("/.well-known/agent.json", "/.well-known/agent-card.json", "/.well-known/agent")


@pytest.fixture
def carded(model, make_model, start_runtime, mcp_server):
    peer_model = make_model()
    peer = start_runtime(peer_model.url, AGENT_NAME="researcher", AGENT_DESCRIPTION="Finds facts.")
    rt = start_runtime(
        model.url,
        AGENT_NAME="lead",
        AGENT_DESCRIPTION="Leads the team.",
        MCP_SERVERS="calc",
        MCP_SERVER_calc_URL=mcp_server.url,
        PEER_AGENTS="researcher",
        PEER_AGENT_RESEARCHER_CARD_URL=peer.url + "/.well-known/agent.json",  # a card URL works too
    )
    return rt


def test_card_validates_against_a2a_models_and_lists_tools_and_peers(carded):
    cards = [httpx.get(carded.url + path).json() for path in CARD_PATHS]
    assert cards[0] == cards[1] == cards[2]
    card = cards[0]

    v03 = AgentCardV03.model_validate(card)
    assert v03.name == "lead" and v03.description == "Leads the team."
    assert v03.capabilities.streaming is True
    assert v03.url == carded.url
    skills = {s.id: s for s in v03.skills}
    assert {"chat", "add", "echo", "fail", "slow_echo", "delegate_to_researcher"} <= set(skills)
    assert skills["add"].description == "Add two integers."
    assert "mcp:calc" in skills["add"].tags
    assert "Finds facts." in skills["delegate_to_researcher"].description

    v10 = parse_agent_card(dict(card))
    assert v10.name == "lead"
    assert v10.capabilities.streaming is True
    assert [i.url for i in v10.supported_interfaces] == [carded.url]
    assert {s.id for s in v10.skills} == set(skills)


def test_card_url_follows_the_request_host_not_localhost(carded):
    card = httpx.get(
        carded.url + "/.well-known/agent.json", headers={"Host": "agent-lead.team.svc:8000"}
    ).json()
    assert card["url"] == "http://agent-lead.team.svc:8000"
    proxied = httpx.get(
        carded.url + "/.well-known/agent.json",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "agents.example.com"},
    ).json()
    assert proxied["url"] == "https://agents.example.com"


def test_card_url_is_the_external_url_when_configured(model, start_runtime):
    rt = start_runtime(model.url, AGENT_EXTERNAL_URL="https://gw.example.com/team/agent/lead/")
    card = httpx.get(rt.url + "/.well-known/agent-card.json").json()
    assert card["url"] == "https://gw.example.com/team/agent/lead"
    assert card["supportedInterfaces"][0]["url"] == card["url"]
    assert [s["id"] for s in card["skills"]] == ["chat"]


def test_health_and_ready_without_waiting_for_dependencies(start_runtime):
    rt = start_runtime(f"http://127.0.0.1:{free_port()}")  # the model API is down
    assert httpx.get(rt.url + "/health").json() == {
        "status": "ok",
        "agent": "test-agent",
        "version": kaosgen_version(),
    }
    ready = httpx.get(rt.url + "/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_ready_waits_for_the_model_api_and_mcp_servers(start_runtime):
    model_port, mcp_port = free_port(), free_port()
    late_model = ScriptedModel(port=model_port)
    late_mcp = ThreadedMcpServer("late", port=mcp_port)
    rt = start_runtime(
        f"http://127.0.0.1:{model_port}",
        WAIT_FOR_DEPENDENCIES="true",
        MCP_SERVERS="late",
        MCP_SERVER_late_URL=late_mcp.url,
        MCP_REFRESH_SECONDS=0.2,
        MCP_CONNECT_TIMEOUT_SECONDS=0.2,
    )
    try:
        waiting = httpx.get(rt.url + "/ready")
        assert waiting.status_code == 503
        assert waiting.json()["waiting_for"] == ["model-api", "mcp:late"]
        assert httpx.get(rt.url + "/health").status_code == 200  # alive, just not ready

        late_model.start()
        deadline = time.monotonic() + 10
        while httpx.get(rt.url + "/ready").json()["waiting_for"] != ["mcp:late"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.get(rt.url + "/ready").status_code == 503

        late_mcp.start()
        while httpx.get(rt.url + "/ready").status_code != 200:
            assert time.monotonic() < deadline + 10
            time.sleep(0.1)
        late_mcp.stop()  # once ready, an outage does not take the agent out of its Service
        time.sleep(0.5)
        assert httpx.get(rt.url + "/ready").status_code == 200
    finally:
        late_mcp.stop()
        late_model.stop()


def _sample(metrics: str, line_start: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in metrics:\n{metrics}")


def test_metrics_count_requests_model_calls_tools_tokens_and_errors(
    model, start_runtime, mcp_server
):
    rt = start_runtime(model.url, MCP_SERVERS="calc", MCP_SERVER_calc_URL=mcp_server.url)
    model.push(
        Reply.tool_call("add", {"a": 1, "b": 2}, usage=(10, 3)),
        Reply.text("3", usage=(12, 1)),
        Reply.error(401, "nope"),
    )
    client = openai_client(rt.url)
    client.chat.completions.create(model="x", messages=[{"role": "user", "content": "1+2"}])
    httpx.post(
        rt.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "q"}]}
    )
    httpx.post(rt.url + "/v1/chat/completions", content=b"{oops")
    response = httpx.get(rt.url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    m = response.text
    chat = 'route="/v1/chat/completions"'
    assert _sample(m, f'kaos_agent_requests_total{{method="POST",{chat},status="200"}}') == 1
    assert _sample(m, f'kaos_agent_requests_total{{method="POST",{chat},status="502"}}') == 1
    assert _sample(m, f'kaos_agent_requests_total{{method="POST",{chat},status="400"}}') == 1
    assert _sample(m, f"kaos_agent_request_duration_seconds_count{{{chat}}}") == 3
    assert _sample(m, 'kaos_agent_model_calls_total{outcome="ok"}') == 2
    assert _sample(m, 'kaos_agent_model_calls_total{outcome="error"}') == 1
    assert _sample(m, 'kaos_agent_tool_calls_total{outcome="ok",tool="add"}') == 1
    assert _sample(m, 'kaos_agent_tokens_total{type="prompt"}') == 22
    assert _sample(m, 'kaos_agent_tokens_total{type="completion"}') == 4
    assert _sample(m, 'kaos_agent_errors_total{kind="model_api"}') == 1
    assert _sample(m, "kaos_agent_requests_in_flight") == 0
    assert _sample(m, "kaos_agent_loop_steps_count") == 1


def test_in_flight_gauge_counts_running_completions(model, start_runtime):
    model.push(Reply.text("slow", delay=2.0))
    rt = start_runtime(model.url)
    worker = threading.Thread(
        target=lambda: httpx.post(
            rt.url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "q"}], "stream": True},
            timeout=10,
        )
    )
    worker.start()
    deadline = time.monotonic() + 1.5
    while _sample(httpx.get(rt.url + "/metrics").text, "kaos_agent_requests_in_flight") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.join()
    assert _sample(httpx.get(rt.url + "/metrics").text, "kaos_agent_requests_in_flight") == 0


def test_ready_waits_for_redis_when_memory_lives_there(model, start_runtime):
    rt = start_runtime(
        model.url,
        WAIT_FOR_DEPENDENCIES="true",
        MEMORY_TYPE="redis",
        MEMORY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        MCP_REFRESH_SECONDS=0.2,
    )
    deadline = time.monotonic() + 5
    while (body := httpx.get(rt.url + "/ready").json())["waiting_for"] != ["memory"]:
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    assert httpx.get(rt.url + "/ready").status_code == 503
