"""Three real runtimes (`python -m kaos_runtime`, the image CMD) delegating to each other.

lead -> researcher -> archivist, each with its own scripted model; lead also has a real
MCP server configured the way the KAOS operator spells it (raw hyphenated name) and an
HTTP(S) proxy trap that would record any call to the outside world.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from support.process import free_port
from support.runtime_harness import agent_processes, openai_client
from support.scripted_model import Reply, ScriptedModel


class ProxyTrap:
    """A TCP listener used as HTTP(S)_PROXY: every connection is an outbound call attempt."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    self.seen.append(conn.recv(200))
                except OSError:
                    self.seen.append(b"?")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def trio(tmp_path_factory, mcp_server) -> Iterator[dict]:
    models = {name: ScriptedModel().start() for name in ("lead", "researcher", "archivist")}
    ports = {name: free_port() for name in models}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    trap = ProxyTrap()
    proxy = f"http://127.0.0.1:{trap.port}"
    envs = [
        {
            "AGENT_NAME": "lead",
            "AGENT_DESCRIPTION": "Leads the team.",
            "AGENT_INSTRUCTIONS": "You lead.",
            "MODEL_API_URL": models["lead"].url,
            "MODEL_NAME": "openai/gpt-4o-mini",
            "MODEL_CLIENT": "litellm",  # one agent of the three on each client
            "MCP_SERVERS": "calc-tools",
            "MCP_SERVER_calc-tools_URL": mcp_server.url,
            "PEER_AGENTS": "researcher",
            "PEER_AGENT_RESEARCHER_CARD_URL": url["researcher"],
            "MCP_REFRESH_SECONDS": "1",
            "AGENT_PORT": str(ports["lead"]),
            "HTTP_PROXY": proxy,
            "HTTPS_PROXY": proxy,
            "ALL_PROXY": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
        },
        {
            "AGENT_NAME": "researcher",
            "AGENT_DESCRIPTION": "Researches facts with the archivist.",
            "MODEL_API_URL": models["researcher"].url,
            "MODEL_NAME": "scripted",
            "AGENT_SUB_AGENTS": f"archivist:{url['archivist']}",
            "AGENT_PORT": str(ports["researcher"]),
        },
        {
            "AGENT_NAME": "archivist",
            "AGENT_DESCRIPTION": "Knows the archive.",
            "MODEL_API_URL": models["archivist"].url,
            "MODEL_NAME": "scripted",
            "MODEL_CLIENT": "direct",
            "AGENT_PORT": str(ports["archivist"]),
        },
    ]
    try:
        with agent_processes(envs, tmp_path_factory.mktemp("trio")) as servers:
            yield {"models": models, "url": url, "trap": trap, "servers": servers}
    finally:
        trap.close()
        for model in models.values():
            model.stop()


def _wait_for_peer_card(lead_url: str) -> dict:
    deadline = time.monotonic() + 20
    while True:
        card = httpx.get(lead_url + "/.well-known/agent.json").json()
        skill = next(s for s in card["skills"] if s["id"] == "delegate_to_researcher")
        if "Researches facts" in skill["description"] or time.monotonic() > deadline:
            return card
        time.sleep(0.2)


def test_a_chain_of_three_agents_answers_with_streamed_progress(trio):
    models, url = trio["models"], trio["url"]
    card = _wait_for_peer_card(url["lead"])
    assert card["url"] == url["lead"]
    assert {"add", "delegate_to_researcher"} <= {s["id"] for s in card["skills"]}

    models["lead"].push(
        Reply.tool_call("delegate_to_researcher", {"task": "Find the magic number."}),
        Reply.text(
            "The magic number is 42.", tokens=("The magic ", "number ", "is 42."), token_delay=0.05
        ),
    )
    models["researcher"].push(
        Reply.tool_call("delegate_to_archivist", {"task": "Look up the magic number."}),
        Reply.text("The archive says 42."),
    )
    models["archivist"].push(Reply.text("42"))

    with httpx.stream(
        "POST",
        url["lead"] + "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "What is the magic number?"}],
            "stream": True,
        },
        timeout=60,
    ) as response:
        assert response.status_code == 200
        session = response.headers["x-session-id"]
        events = [e for e in response.read().decode().split("\n\n") if e]

    text = "".join(
        json.loads(e[6:])["choices"][0]["delta"].get("content", "")
        for e in events
        if e.startswith("data: {")
    )
    assert text == "The magic number is 42."
    request = next(e for e in events if e.startswith(": delegation_request "))
    answer = next(e for e in events if e.startswith(": delegation_response "))
    assert json.loads(request.split(" ", 2)[2])["peer"] == "researcher"
    assert json.loads(answer.split(" ", 2)[2])["content"] == "The archive says 42."

    lead_tools = {t["function"]["name"]: t["function"] for t in models["lead"].requests[0]["tools"]}
    assert {"add", "echo", "delegate_to_researcher"} <= set(lead_tools)
    assert (
        "Researches facts with the archivist."
        in lead_tools["delegate_to_researcher"]["description"]
    )
    assert models["lead"].requests[0]["model"] == "openai/gpt-4o-mini"

    researcher_tools = [t["function"]["name"] for t in models["researcher"].requests[0]["tools"]]
    assert researcher_tools == ["delegate_to_archivist"]
    assert models["archivist"].requests[0]["messages"][-1] == {
        "role": "user",
        "content": "Look up the magic number.",
    }
    assert "tools" not in models["archivist"].requests[0]  # no MCP servers, no peers

    events = httpx.get(url["archivist"] + "/memory/events", params={"session_id": session}).json()[
        "events"
    ]
    assert events[0]["type"] == "user_message"
    assert events[0]["metadata"] == {"delegation_depth": 2}
    assert events[-1]["type"] == "agent_response" and events[-1]["content"] == "42"


def test_the_runtimes_call_nothing_but_their_dependencies(trio):
    # Start-up, card fetches, MCP discovery and a full delegated request happened above (or
    # happen now); none of it may leave loopback (the proxy trap sees every other call).
    trio["models"]["lead"].push(Reply.text("fine"))
    openai_client(trio["url"]["lead"]).chat.completions.create(
        model="x", messages=[{"role": "user", "content": "hi"}]
    )
    assert trio["trap"].seen == []


def test_a_request_too_deep_in_a_chain_is_refused(trio):
    client = openai_client(trio["url"]["archivist"])
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "q"}],
            extra_headers={"X-KAOS-Delegation-Depth": "6"},
        )
    assert info.value.status_code == 508
    assert "limit is 5" in info.value.message


def test_sigterm_stops_a_runtime_cleanly(trio):
    server = trio["servers"][2]
    server.stop()
    # uvicorn shuts down gracefully, then re-raises the signal (exit status 143 in a pod).
    assert server.process.returncode in (0, -15)
    log = server.log()
    assert "Application shutdown complete." in log
    assert "Traceback" not in log and "ERROR" not in log
