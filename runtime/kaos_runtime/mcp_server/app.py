"""Build the FastMCP server for the configured tools and serve it over streamable HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastmcp import FastMCP
from kaos_contract.env import MCP_HEALTH_PATH
from kaos_contract.version import kaosgen_version
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..server import bounded_protocol
from .config import ServerConfig
from .http import http_middleware
from .package import load_package_server
from .tool_source import load_tool_functions, source_error

log = logging.getLogger("kaos_runtime.mcp_server")


def server_from_functions(name: str, functions: list[Callable[..., Any]]) -> FastMCP:
    """A FastMCP serving `functions` as tools (schema from type hints, docs from docstrings)."""
    server: FastMCP = FastMCP(name)
    for function in functions:
        try:
            server.add_tool(function)
        except Exception as exc:  # e.g. *args, or a type pydantic cannot describe
            line = getattr(getattr(function, "__code__", None), "co_firstlineno", None)
            raise source_error(
                line, f"cannot make tool {function.__name__!r}: {type(exc).__name__}: {exc}"
            ) from None
    return server


def _has_route(server: FastMCP, path: str) -> bool:
    return any(
        getattr(route, "path", None) == path for route in server._get_additional_http_routes()
    )


def add_health_route(server: FastMCP) -> None:
    """`GET /health` for the kubelet probes, unless the package already serves one."""
    if _has_route(server, MCP_HEALTH_PATH):
        return

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "name": server.name, "version": kaosgen_version()})

    server.custom_route(MCP_HEALTH_PATH, methods=["GET"], include_in_schema=False)(health)


def build_server(
    config: ServerConfig, functions: list[Callable[..., Any]] | None = None
) -> FastMCP:
    """The server for `config`; raises `StartupError` when the tools cannot be loaded.

    `functions` are the already loaded tool functions of `config.tools_source`, if any.
    """
    if config.tools_source is not None:
        if functions is None:
            functions = load_tool_functions(config.tools_source)
        server = server_from_functions(config.name, functions)
        origin = "MCP_TOOLS_STRING"
    else:
        server = load_package_server(config.package or "", config.name)
        origin = f"MCP_PACKAGE={config.package}"
    add_health_route(server)
    log.info("loaded MCP server %r from %s", server.name, origin)
    return server


async def serve(server: FastMCP, config: ServerConfig) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn logs through the root logger (stdout)."""
    tools = await server.list_tools()
    log.info(
        "serving %d tool(s) [%s] on http://%s:%d%s (%s)",
        len(tools),
        ", ".join(t.name for t in tools),
        config.host,
        config.port,
        config.path,
        "stateless" if config.stateless else "stateful: MCP sessions",
    )
    log.info(
        "DNS-rebinding protection: Host must be loopback, the pod's address%s; a browser "
        "Origin must be this server%s",
        "".join(f", {h}" for h in config.allowed_hosts),
        "".join(f", {o}" for o in config.allowed_origins),
    )
    uvicorn_config: dict[str, Any] = {"log_config": None, "access_log": config.access_log}
    # The agent's HTTP protocol: request headers bounded in time and size (slow clients).
    protocol = bounded_protocol(config.request_read_timeout)
    if protocol is not None:
        uvicorn_config["http"] = protocol
    await server.run_http_async(
        transport="http",
        host=config.host,
        port=config.port,
        path=config.path,
        show_banner=False,
        stateless_http=config.stateless,
        # The guard is in `http_middleware`, with a log of what it refuses.
        host_origin_protection=False,
        middleware=http_middleware(
            path=config.path,
            stateless=config.stateless,
            allowed_hosts=config.allowed_hosts,
            allowed_origins=config.allowed_origins,
        ),
        uvicorn_config=uvicorn_config,
    )
