"""`MCP_PACKAGE`: serve the MCP server an installed package exposes."""

from __future__ import annotations

import json
import os
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client
from kaos_runtime.mcp_server.errors import StartupError
from kaos_runtime.mcp_server.package import load_package_server
from support.mcp_server import mcp_tool_server

PACKAGES = {
    # The convention: a module attribute named `mcp` that is a FastMCP.
    "kaos_pkg_attr/__init__.py": """
        from fastmcp import FastMCP

        mcp = FastMCP("attr-tools")

        @mcp.tool
        def double(x: int) -> int:
            '''Double a number.'''
            return 2 * x

        @mcp.custom_route("/health", methods=["GET"])
        async def health(request):
            from starlette.responses import JSONResponse
            return JSONResponse({"status": "ok", "own": True})
        """,
    # A create_server() factory, in a distribution whose name differs from the module.
    "kaos_pkg_factory/__init__.py": """
        from fastmcp import FastMCP

        def create_server():
            server = FastMCP("factory-tools")

            @server.tool
            async def triple(x: int) -> int:
                '''Triple a number.'''
                return 3 * x

            return server
        """,
    "kaos_pkg_factory-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: kaos-pkg-factory\nVersion: 1.0\n",
    "kaos_pkg_factory-1.0.dist-info/RECORD": "kaos_pkg_factory/__init__.py,,\n",
    # The official SDK's MCPServer, named with module:attribute.
    "kaos_pkg_sdk/tools.py": """
        from mcp.server.mcpserver import MCPServer

        sdk = MCPServer("sdk-tools")

        @sdk.tool()
        def negate(x: int) -> int:
            '''Negate a number.'''
            return -x
        """,
    "kaos_pkg_sdk/__init__.py": "",
    "kaos_pkg_empty/__init__.py": "VALUE = 1\n",
    "kaos_pkg_broken/__init__.py": "import not_installed_dependency_xyz\n",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A directory of small packages, put on PYTHONPATH like a derived image's site-packages."""
    root = tmp_path_factory.mktemp("site")
    for relative, text in PACKAGES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    pythonpath = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    yield {"PYTHONPATH": pythonpath}


@pytest.mark.parametrize(
    ("package", "tool", "expected"),
    [
        ("kaos_pkg_attr", "double", 42),
        ("kaos-pkg-factory", "triple", 63),
        ("kaos_pkg_sdk.tools:sdk", "negate", -21),
    ],
    ids=["attribute", "factory-by-distribution-name", "sdk-module-attr"],
)
@pytest.mark.asyncio
async def test_serves_package(
    site: dict[str, str], tmp_path: Path, package: str, tool: str, expected: int
) -> None:
    with mcp_tool_server(tmp_path, package=package, env=site) as server:
        async with Client(f"{server.url}/mcp", timeout=30) as c:
            assert [t.name for t in await c.list_tools()] == [tool]
            result = await c.call_tool(tool, {"x": 21})
            assert result.data == expected or result.content[0].text == str(expected)
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
            health = json.loads(response.read())
    # A package's own /health wins; otherwise the runtime adds one.
    if package == "kaos_pkg_attr":
        assert health == {"status": "ok", "own": True}
    else:
        assert health["status"] == "ok"
        assert "own" not in health


@pytest.mark.parametrize(
    ("package", "fragment"),
    [
        ("kaos_pkg_empty", "exposes no MCP server"),
        ("kaos_pkg_broken", "ModuleNotFoundError"),
        ("kaos_pkg_attr:nothing_here", "has no 'nothing_here'"),
        ("kaos_pkg_empty:VALUE", "got a int"),
        ("not_installed_anywhere_xyz", "derived from this one"),
    ],
    ids=["no-server", "import-fails", "missing-attribute", "wrong-type", "missing"],
)
def test_bad_package(
    site: dict[str, str], monkeypatch: pytest.MonkeyPatch, package: str, fragment: str
) -> None:
    monkeypatch.syspath_prepend(site["PYTHONPATH"].split(os.pathsep)[0])
    with pytest.raises(StartupError, match=fragment):
        load_package_server(package)


def test_distribution_name_resolves_to_module(
    site: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(site["PYTHONPATH"].split(os.pathsep)[0])
    server = load_package_server("KAOS.pkg-factory")  # PEP 503 spelling variations
    assert server.name == "factory-tools"
