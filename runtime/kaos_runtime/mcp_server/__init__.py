"""The MCP tool-server runtime: serves tools over MCP streamable HTTP at `/mcp`.

Two modes, chosen by the environment (see `config.py`):

- `MCP_TOOLS_STRING`: Python source; every public top-level function becomes a tool
  (`python-string` / `fromString` MCPServers).
- `MCP_PACKAGE`: an installed Python package that exposes a FastMCP server
  (`fromPackage` / `config.mcp` MCPServers).

Start it with `python -m kaos_runtime.mcp_server` (the image CMD) or `kaos-mcp-server`.
This package imports nothing heavy at import time so `__main__` can set fastmcp's
environment before fastmcp is first imported.
"""
