"""Fixtures for the agent runtime tests: a scripted model, real MCP servers, runtimes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.fastmcp_thread import ThreadedMcpServer
from support.process import OFFLINE_ENV
from support.runtime_harness import InProcessRuntime, agent_env
from support.scripted_model import ScriptedModel

os.environ.update(OFFLINE_ENV)


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
    for runtime in started:  # each on its own port: no need to wait for the shutdown
        runtime.stop(wait=False)


@pytest.fixture
def make_model() -> Iterator[Callable[..., ScriptedModel]]:
    """Factory for extra scripted models (one per agent in multi-agent tests)."""
    started: list[ScriptedModel] = []

    def make(**kw: Any) -> ScriptedModel:
        server = ScriptedModel(**kw).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
