"""The MCP tool-server runtime's settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kaos_contract import env as contract

from .errors import StartupError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class ServerConfig:
    """Where the tools come from and how they are served."""

    tools_source: str | None
    package: str | None
    name: str
    host: str = "0.0.0.0"
    port: int = contract.MCP_PORT_DEFAULT
    path: str = contract.MCP_PATH
    log_level: str = "INFO"
    access_log: bool = False
    #: Stateless streamable HTTP: any replica can answer any request (no session affinity).
    stateless: bool = True


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StartupError(f"{name}: expected true or false, got {raw!r}")


def _port(environ: Mapping[str, str]) -> int:
    raw = environ.get(contract.MCP_PORT, "").strip()
    if not raw:
        return contract.MCP_PORT_DEFAULT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StartupError(f"{contract.MCP_PORT}: expected a port number 1-65535, got {raw!r}")
    return int(raw)


def _log_level(environ: Mapping[str, str]) -> str:
    name = contract.MCP_LOG_LEVEL if environ.get(contract.MCP_LOG_LEVEL) else "LOG_LEVEL"
    raw = environ.get(name, "").strip() or "INFO"
    level = raw.upper()
    if level not in _LEVELS:
        raise StartupError(f"{name}: expected one of {', '.join(_LEVELS)}, got {raw!r}")
    return level


def load_config(environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Read and check the environment; raise `StartupError` naming the bad variable."""
    environ = os.environ if environ is None else environ
    source = environ.get(contract.MCP_TOOLS_STRING)
    package = (environ.get(contract.MCP_PACKAGE) or "").strip() or None
    if source is not None and package:
        raise StartupError(
            f"set only one of {contract.MCP_TOOLS_STRING} and {contract.MCP_PACKAGE}, not both"
        )
    if source is None and not package:
        raise StartupError(
            f"no tools: set {contract.MCP_TOOLS_STRING} (Python source) "
            f"or {contract.MCP_PACKAGE} (an installed package exposing a FastMCP server)"
        )
    default_name = package or "kaos-mcp-server"
    return ServerConfig(
        tools_source=source,
        package=package,
        name=(environ.get(contract.MCP_SERVER_NAME) or "").strip() or default_name,
        host=(environ.get(contract.MCP_HOST) or "").strip() or "0.0.0.0",
        port=_port(environ),
        log_level=_log_level(environ),
        access_log=_bool(environ, contract.MCP_ACCESS_LOG, False),
        stateless=_bool(environ, "FASTMCP_STATELESS_HTTP", True),
    )
