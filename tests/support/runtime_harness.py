"""The agent runtime under test, two ways (used by tests/runtime).

* `agent_process(...)`: `python -m kaos_runtime` as a subprocess with an env dict, exactly
  as the image's CMD starts it (the contract and multi-agent tests use this).
* `InProcessRuntime`: the same app served by uvicorn in a thread of the test process, for
  the many behaviour tests that would otherwise pay a process start each (white-box
  access to `runtime` state, still real HTTP on loopback).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from .process import OFFLINE_ENV, Server, free_port, http_ok, python_module, running

MODULE = "kaos_runtime"


def agent_env(model_url: str, **values: Any) -> dict[str, str]:
    """The runtime's env: a name, the model, then `values` (keyword = variable name)."""
    env = {
        "AGENT_NAME": "test-agent",
        "MODEL_API_URL": model_url,
        "MODEL_NAME": "scripted",
        "MCP_CONNECT_TIMEOUT_SECONDS": "5",
    }
    env.update({k: str(v) for k, v in values.items() if v is not None})
    return env


def child_process_env(env: Mapping[str, str]) -> dict[str, str]:
    """What a subprocess gets: PATH and friends, the offline vars, and `env` (nothing else)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
    base = {k: os.environ[k] for k in keep if k in os.environ}
    return {**base, **OFFLINE_ENV, **env}


@contextlib.contextmanager
def agent_process(
    env: Mapping[str, str], log_dir: Path, *, timeout: float = 90.0, name: str | None = None
) -> Iterator[Server]:
    """A running `python -m kaos_runtime`; `AGENT_PORT` is chosen here unless given."""
    full = dict(env)
    port = int(full.get("AGENT_PORT") or free_port())
    full["AGENT_PORT"] = str(port)
    full.setdefault("AGENT_HOST", "127.0.0.1")
    label = name or full.get("AGENT_NAME", "agent")
    with running(
        python_module(MODULE),
        port=port,
        log_path=log_dir / f"agent-{label}-{port}.log",
        ready=lambda s: http_ok(f"{s.url}/health"),
        env=child_process_env(full),
        timeout=timeout,
        what=f"agent runtime {label}",
    ) as server:
        yield server


class InProcessRuntime:
    """`create_app(load_settings(env))` served on a loopback port by a uvicorn thread."""

    def __init__(self, env: Mapping[str, str], **app_options: Any) -> None:
        """`app_options` go to `create_app` (e.g. `memory=` a backend built by the test)."""
        os.environ.update(OFFLINE_ENV)
        from kaos_runtime.app import create_app
        from kaos_runtime.server import uvicorn_config
        from kaos_runtime.settings import load_settings

        full = dict(env)
        self.port = int(full.get("AGENT_PORT") or free_port())
        full["AGENT_PORT"] = str(self.port)
        self.settings = load_settings(full)
        self.app = create_app(self.settings, **app_options)
        # The image's server settings (bounded request reading included), on loopback.
        config = uvicorn_config(
            self.app, self.settings, host="127.0.0.1", log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def start(self, timeout: float = 30.0) -> InProcessRuntime:
        self.thread = threading.Thread(target=self.server.run, name="agent-runtime", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the in-process runtime stopped during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("the in-process runtime did not start")
            time.sleep(0.01)
        return self

    def stop(self, wait: bool = True) -> None:
        """Ask the server to exit; `wait=False` lets it finish shutting down in the background."""
        self.server.should_exit = True
        if wait and self.thread is not None:
            self.thread.join(timeout=15)
            self.thread = None

    def __enter__(self) -> InProcessRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def openai_client(url: str, **kw: Any) -> Any:
    """The official OpenAI SDK (sync), pointed at a runtime's base URL."""
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, **kw)


def async_openai_client(url: str, **kw: Any) -> Any:
    """The official OpenAI SDK (async), pointed at a runtime's base URL."""
    import openai

    return openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, **kw)


@contextlib.contextmanager
def agent_processes(
    envs: list[Mapping[str, str]], log_dir: Path, *, timeout: float = 120.0
) -> Iterator[list[Server]]:
    """Several runtimes started at once (their imports overlap); each env needs AGENT_PORT."""
    import subprocess

    from .process import wait_until

    servers: list[Server] = []
    try:
        for env in envs:
            full = {"AGENT_HOST": "127.0.0.1", **env}
            port = int(full["AGENT_PORT"])
            log_path = log_dir / f"agent-{full.get('AGENT_NAME', 'agent')}-{port}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    python_module(MODULE),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=child_process_env(full),
                )
            servers.append(Server(process, log_path, port))
        for server in servers:
            what = f"agent runtime on port {server.port}"
            wait_until(server, lambda s=server: http_ok(f"{s.url}/health"), timeout, what)
        yield servers
    finally:
        for server in servers:
            server.stop()
