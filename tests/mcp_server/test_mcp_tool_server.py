"""The MCP tool-server runtime end to end: a real subprocess and a real fastmcp client."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest
from fastmcp import Client
from kaos_contract.version import kaosgen_version
from support.mcp_server import mcp_tool_server
from support.process import Server

pytestmark = pytest.mark.asyncio

TOOLS = textwrap.dedent(
    '''
    import json
    from typing import Literal


    def add(a: int, b: int = 2) -> int:
        """Add two integers."""
        return a + b


    async def shout(text: str, times: int = 1) -> str:
        """Upper-case the text, repeated."""
        return " ".join([text.upper()] * times)


    def fail(reason: str) -> str:
        """Always raises."""
        raise ValueError(f"it failed: {reason}")


    def pick(colour: Literal["red", "green"], note: str | None = None) -> dict:
        """Pick a colour."""
        return {"colour": colour, "note": note, "encoded": json.dumps(colour)}


    def _helper() -> None:
        """Private: not a tool."""
    '''
)


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with mcp_tool_server(
        tmp_path_factory.mktemp("mcp"), tools=TOOLS, env={"MCP_SERVER_NAME": "calc-tools"}
    ) as server:
        yield server


def client(server: Server) -> Client:
    return Client(f"{server.url}/mcp", timeout=30)


def get_json(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


async def test_lists_public_functions_as_tools(tool_server: Server) -> None:
    async with client(tool_server) as c:
        tools = {t.name: t for t in await c.list_tools()}
    assert sorted(tools) == ["add", "fail", "pick", "shout"]  # not json, Literal or _helper
    add = tools["add"]
    assert add.description == "Add two integers."
    assert add.input_schema["properties"]["a"]["type"] == "integer"
    assert add.input_schema["properties"]["b"]["default"] == 2
    assert add.input_schema["required"] == ["a"]
    pick = tools["pick"].input_schema["properties"]
    assert pick["colour"]["enum"] == ["red", "green"]
    assert tools["shout"].description == "Upper-case the text, repeated."


async def test_calls_sync_and_async_tools_on_one_connection(tool_server: Server) -> None:
    async with client(tool_server) as c:
        assert (await c.call_tool("add", {"a": 40})).data == 42
        assert (await c.call_tool("add", {"a": 1, "b": 2})).data == 3
        result = await c.call_tool("shout", {"text": "hé", "times": 2})
        assert result.data == "HÉ HÉ"
        assert result.content[0].text == "HÉ HÉ"
        picked = await c.call_tool("pick", {"colour": "red"})
        assert picked.structured_content == {"colour": "red", "note": None, "encoded": '"red"'}


async def test_tool_error_is_an_error_result_and_server_stays_up(tool_server: Server) -> None:
    async with client(tool_server) as c:
        result = await c.call_tool("fail", {"reason": "on purpose"}, raise_on_error=False)
        assert result.is_error
        assert "it failed: on purpose" in result.content[0].text
        bad_args = await c.call_tool("add", {"a": "not a number"}, raise_on_error=False)
        assert bad_args.is_error
        assert (await c.call_tool("add", {"a": 1})).data == 3
    assert tool_server.alive()
    assert "ValueError: it failed: on purpose" in tool_server.log()  # logged for operators


async def test_health_names_the_server(tool_server: Server) -> None:
    status, body = get_json(f"{tool_server.url}/health")
    assert status == 200
    assert body == {"status": "ok", "name": "calc-tools", "version": kaosgen_version()}
    async with client(tool_server) as c:
        result = await c.call_tool("add", {"a": 1})
    assert result.meta["io.modelcontextprotocol/serverInfo"]["name"] == "calc-tools"


async def test_concurrent_clients(tool_server: Server) -> None:
    import asyncio

    async def one(i: int) -> int:
        async with client(tool_server) as c:
            return (await c.call_tool("add", {"a": i, "b": i})).data

    assert await asyncio.gather(*(one(i) for i in range(8))) == [2 * i for i in range(8)]


async def test_logs_go_to_stdout_without_banner(tool_server: Server) -> None:
    log = tool_server.log()
    assert "serving 4 tool(s) [add, shout, fail, pick]" in log
    assert "╭" not in log  # no rich banner or boxes in container logs
    # Requests (the earlier tests made dozens) add no line each at the default level.
    assert "Terminating session" not in log
