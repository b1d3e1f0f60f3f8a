"""`python -m kaos_runtime.mcp_server`: the MCP tool-server image's entry point."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from kaos_contract.env import OFFLINE_ENV

from ..extra import require_runtime_extra
from .errors import StartupError

PROG = "kaos-mcp-server"
#: What the tool server imports at start-up, from the `runtime` extra.
NEEDS = ("fastmcp", "starlette", "uvicorn", "anyio")

#: Set before fastmcp is imported: no update checks, no banner, plain logs through ours.
_FASTMCP_ENV = {
    **OFFLINE_ENV,
    "FASTMCP_LOG_ENABLED": "false",
    "FASTMCP_SHOW_SERVER_BANNER": "false",
}


#: Log a line per request ("Terminating session: None" after each stateless request) at
#: INFO: heard at DEBUG only.
_PER_REQUEST_LOGGERS = ("mcp.server.streamable_http",)


def configure_logging(level: str) -> None:
    """One plain line per record on stdout (the container log)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(level if level == "DEBUG" else "WARNING")


def main() -> None:
    require_runtime_extra(PROG, NEEDS)
    for key, value in _FASTMCP_ENV.items():
        os.environ.setdefault(key, value)
    try:
        from .config import load_config
        from .tool_source import load_tool_functions

        config = load_config()
        configure_logging(config.log_level)
        # Check the user's source before importing fastmcp: bad source fails in milliseconds.
        functions = None
        if config.tools_source is not None:
            functions = load_tool_functions(config.tools_source)

        import anyio

        from .app import build_server, serve

        server = build_server(config, functions)
    except StartupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve, server, config)


if __name__ == "__main__":
    main()
