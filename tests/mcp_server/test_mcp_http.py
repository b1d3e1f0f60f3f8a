"""The MCP tool server's HTTP layer, on a real subprocess: which Host and Origin headers it
answers (DNS-rebinding protection), what `GET /mcp` answers in each mode, and that the
stateful mode carries server-to-client requests (sampling, elicitation) the stateless
mode cannot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from support.mcp_server import INITIALIZE, MCP_HEADERS, mcp_tool_server
from support.process import Server

CONFORMANCE_TOOLS = (Path(__file__).parent / "conformance" / "conformance_tools.py").read_text()


@pytest.fixture(scope="module")
def stateless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "MCP_HOST": "127.0.0.1",
        "MCP_SERVICE_NAME": "mcpserver-calc",
        "POD_NAMESPACE": "team",
        "MCP_ALLOWED_HOSTS": "*.tools.example.com,gateway.example.com",
        "MCP_ALLOWED_ORIGINS": "https://ui.example.com",
    }
    with mcp_tool_server(
        tmp_path_factory.mktemp("stateless"), tools=CONFORMANCE_TOOLS, env=env
    ) as server:
        yield server


@pytest.fixture(scope="module")
def stateful(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"MCP_HOST": "127.0.0.1", "FASTMCP_STATELESS_HTTP": "false"}
    with mcp_tool_server(
        tmp_path_factory.mktemp("stateful"), tools=CONFORMANCE_TOOLS, env=env
    ) as server:
        yield server


def _initialize(server: Server, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=10
    )


# --- DNS-rebinding protection -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "mcpserver-calc:8000",  # what kaosgen's agents use (namespace-relative URLs)
        "mcpserver-calc.team",
        "mcpserver-calc.team.svc",
        "mcpserver-calc.team.svc.cluster.local:8000",  # what the KAOS operator's agents use
        "localhost:8000",  # kubectl port-forward
        "127.0.0.1",  # the address the request came in on (a pod IP: kubelet probes)
        "api.tools.example.com",
        "GATEWAY.example.com:443",
    ],
)
def test_a_host_that_names_this_server_is_served(stateless: Server, host: str) -> None:
    assert _initialize(stateless, Host=host).status_code == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com",
        "mcpserver-calc.evil.example.com",
        "mcpserver-calc.other.svc.cluster.local",  # the same name in another namespace
        "tools.example.com",  # the pattern allows subdomains only
        "10.0.0.9",  # an address this server was not reached on
    ],
)
def test_a_host_that_does_not_is_refused(stateless: Server, host: str) -> None:
    response = _initialize(stateless, Host=host)
    assert response.status_code == 421
    health = httpx.get(f"{stateless.url}/health", headers={"Host": host}, timeout=10)
    assert health.status_code == 421


def test_refusals_are_logged_once_per_host(stateless: Server) -> None:
    for _ in range(3):
        assert _initialize(stateless, Host="rebound.example.net").status_code == 421
    lines = [line for line in stateless.log().splitlines() if "rebound.example.net" in line]
    assert len(lines) == 1
    assert "refused POST /mcp: Host 'rebound.example.net' is not this server" in lines[0]
    assert "MCP_ALLOWED_HOSTS" in lines[0]


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://ui.example.com", 200),  # MCP_ALLOWED_ORIGINS
        ("http://mcpserver-calc:8000", 200),  # the server's own origin
        ("http://evil.example.com", 403),
        ("http://mcpserver-calc:8000.evil.example.com", 403),
        ("null", 403),
    ],
)
def test_a_browser_origin_must_be_this_server_or_allowed(
    stateless: Server, origin: str, status: int
) -> None:
    assert _initialize(stateless, Host="mcpserver-calc:8000", Origin=origin).status_code == status


def test_the_allowed_names_are_logged_at_start_up(stateless: Server) -> None:
    assert (
        "DNS-rebinding protection: Host must be loopback, the pod's address, mcpserver-calc, "
        "mcpserver-calc.team, mcpserver-calc.team.svc, mcpserver-calc.team.svc.cluster.local, "
        "*.tools.example.com, gateway.example.com; a browser Origin must be this server, "
        "https://ui.example.com"
    ) in stateless.log()


# --- GET /mcp ------------------------------------------------------------------------------


def test_get_on_a_stateless_server(stateless: Server) -> None:
    plain = httpx.get(f"{stateless.url}/mcp", timeout=10)  # a probe, curl: Accept */*
    assert plain.status_code == 406
    assert plain.json()["error"]["message"].startswith("Not Acceptable")
    stream = httpx.get(
        f"{stateless.url}/mcp", headers={"Accept": "text/event-stream"}, timeout=10
    )  # an MCP client asking for the standalone stream, which a stateless server has not
    assert stream.status_code == 405
    assert stream.headers["allow"] == "POST, DELETE"
    assert stream.json()["jsonrpc"] == "2.0"


def test_get_on_a_stateful_server(stateful: Server) -> None:
    assert httpx.get(f"{stateful.url}/mcp", timeout=10).status_code == 400  # no session
    opened = _initialize(stateful)
    session = opened.headers["mcp-session-id"]
    headers = {
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": "2025-11-25",
    }
    with httpx.stream("GET", f"{stateful.url}/mcp", headers=headers, timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
    httpx.delete(f"{stateful.url}/mcp", headers={"Mcp-Session-Id": session}, timeout=10)


# --- sessions: server-to-client requests ---------------------------------------------------


async def _sample(messages, params, context) -> str:
    return f"sampled: {messages[0].content.text}"


def _legacy_client(server: Server) -> Client:
    """A client on the 2025-11-25 handshake (sessions), as KAOS's agents and most clients."""
    return Client(f"{server.url}/mcp", sampling_handler=_sample, timeout=30, mode="legacy")


@pytest.mark.asyncio
async def test_sampling_needs_the_stateful_mode(stateless: Server, stateful: Server) -> None:
    async with _legacy_client(stateful) as client:
        result = await client.call_tool("test_sampling", {"prompt": "hi"})
    assert result.content[0].text == "LLM response: sampled: hi"
    async with _legacy_client(stateless) as client:
        result = await client.call_tool("test_sampling", {"prompt": "hi"}, raise_on_error=False)
    assert result.is_error
    assert "no back-channel for server-initiated requests" in result.content[0].text
