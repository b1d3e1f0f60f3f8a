"""The real MCP tool-server runtime (`python -m kaos_runtime.mcp_server`) as a subprocess.

Started exactly as the image's CMD starts it, with the env the compiler renders, so the
tests exercise the same entry point as a cluster does.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from .process import Server, child_env, free_port, http_ok, python_module, running

MODULE = "kaos_runtime.mcp_server"
#: What an MCP client on the 2025-11-25 handshake sends first, and the headers it needs.
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "kaosgen-tests", "version": "1"},
    },
}


def mcp_env(
    *, tools: str | None = None, package: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Env for the runtime: the tool source or package plus `extra`, nothing inherited that
    could select another mode."""
    env = child_env(extra)
    env.pop("MCP_TOOLS_STRING", None)
    env.pop("MCP_PACKAGE", None)
    if tools is not None:
        env["MCP_TOOLS_STRING"] = tools
    if package is not None:
        env["MCP_PACKAGE"] = package
    return env


@contextlib.contextmanager
def mcp_tool_server(
    log_dir: Path,
    *,
    tools: str | None = None,
    package: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """A running MCP tool server; `server.url + "/mcp"` is its MCP endpoint."""
    port = free_port()
    full_env = mcp_env(tools=tools, package=package, extra={**(env or {}), "MCP_PORT": str(port)})
    with running(
        python_module(MODULE),
        port=port,
        log_path=log_dir / f"mcp-server-{port}.log",
        ready=lambda s: http_ok(f"{s.url}/health"),
        env=full_env,
        timeout=timeout,
        what="MCP tool server",
    ) as server:
        yield server


def run_to_exit(
    *, tools: str | None = None, package: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the runtime expecting it to stop at start-up (bad config); returns its output."""
    full_env = mcp_env(
        tools=tools, package=package, extra={"MCP_PORT": str(free_port()), **(env or {})}
    )
    return subprocess.run(
        python_module(MODULE), env=full_env, capture_output=True, text=True, timeout=60
    )
