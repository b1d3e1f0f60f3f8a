"""Fixtures for the agent runtime tests: a scripted model, real MCP servers, runtimes."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from support.process import OFFLINE_ENV, free_port, http_ok
from support.runtime_harness import InProcessRuntime, agent_env
from support.scripted_model import ScriptedModel

os.environ.update(OFFLINE_ENV)


# --- a real fastmcp server in a thread -------------------------------------------------


def build_tools_server(name: str = "calc") -> Any:
    from fastmcp import FastMCP

    mcp = FastMCP(name)

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

    def __init__(self, name: str = "calc", port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedMcpServer:
        app = build_tools_server(self.name).http_app()
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


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[ThreadedMcpServer]:
    server = ThreadedMcpServer("calc").start()
    yield server
    server.stop()


# --- the scripted model ------------------------------------------------------------------


@pytest.fixture(scope="session")
def _model_server() -> Iterator[ScriptedModel]:
    with ScriptedModel() as server:
        yield server


@pytest.fixture
def model(_model_server: ScriptedModel) -> Iterator[ScriptedModel]:
    """The shared scripted model, with an empty script and no recorded requests."""
    _model_server.reset()
    _model_server.default = None
    yield _model_server
    _model_server.reset()


# --- runtimes ----------------------------------------------------------------------------


@pytest.fixture
def start_runtime() -> Iterator[Callable[..., InProcessRuntime]]:
    """Factory: `start_runtime(model_url, VAR=value, ...)` -> a running in-process runtime."""
    started: list[InProcessRuntime] = []

    def start(model_url: str, **env: Any) -> InProcessRuntime:
        runtime = InProcessRuntime(agent_env(model_url, **env)).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
