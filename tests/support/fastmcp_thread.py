"""A real fastmcp tool server in a thread of the test process (loopback, free port).

It can be stopped and started again on the same port, which is how the runtime tests take
an MCP server down and bring it back. Tools: add, echo, fail (always raises), slow_echo;
with `hold=True` also `hold(token, seconds)`, which records in `HOLDS[token]` that it
started and whether it finished or was cancelled (the server saw the client give up).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn

from .process import free_port, http_ok

#: token -> what happened to `hold(token, ...)` calls: "started", then "finished" or "cancelled".
HOLDS: dict[str, list[str]] = {}


def build_tools_server(
    name: str = "calc", hold: bool = False, echo_names: tuple[str, ...] = ()
) -> Any:
    """`echo_names`: more echo tools under these names (ones a model API refuses, say)."""
    from fastmcp import FastMCP

    mcp = FastMCP(name)

    for extra in echo_names:

        def echo_as(text: str) -> str:
            """Echo the text back."""
            return f"{text} (echoed)"

        mcp.tool(name=extra)(echo_as)

    if hold:

        @mcp.tool
        async def hold(token: str, seconds: float) -> str:
            """Wait `seconds`, recording whether the wait was cancelled."""
            events = HOLDS.setdefault(token, [])
            events.append("started")
            try:
                await asyncio.sleep(seconds)
            except BaseException:  # anyio cancels with its own exception types
                events.append("cancelled")
                raise
            events.append("finished")
            return f"held {token}"

    @mcp.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    @mcp.tool
    def fail(reason: str) -> str:
        """Always fails with the given reason."""
        raise ValueError(f"failed on purpose: {reason}")

    @mcp.tool
    async def slow_echo(text: str, seconds: float) -> str:
        """Echo the text after waiting `seconds`."""
        await asyncio.sleep(seconds)
        return f"{text} after {seconds}s"

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok"})

    return mcp


class ThreadedMcpServer:
    """A fastmcp server on a fixed loopback port that can be stopped and started again."""

    def __init__(
        self,
        name: str = "calc",
        port: int | None = None,
        hold: bool = False,
        echo_names: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.hold = hold
        self.echo_names = echo_names
        self.port = port or free_port()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedMcpServer:
        app = build_tools_server(self.name, self.hold, self.echo_names).http_app()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"mcp-{self.name}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not (self.server.started and http_ok(f"{self.url}/health")):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("MCP test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.server = self.thread = None
