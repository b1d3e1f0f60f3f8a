"""The agent runtime (`python -m kaos_runtime`, the image CMD) as a subprocess."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path

from .process import Server, child_env, free_port, http_ok, python_module, running

MODULE = "kaos_runtime"


def agent_runtime_available() -> bool:
    """True once `kaos_runtime/__main__.py` exists (the entry point the image runs)."""
    return importlib.util.find_spec(f"{MODULE}.__main__") is not None


@contextlib.contextmanager
def agent_runtime(
    log_dir: Path, env: Mapping[str, str], *, timeout: float = 60.0, ready_path: str = "/health"
) -> Iterator[Server]:
    """A running agent runtime configured by `env` (the contract variables); its port is
    chosen here and passed as AGENT_PORT."""
    port = free_port()
    full_env = child_env({**env, "AGENT_PORT": str(port)})
    with running(
        python_module(MODULE),
        port=port,
        log_path=log_dir / f"agent-{env.get('AGENT_NAME', 'agent')}-{port}.log",
        ready=lambda s: http_ok(f"{s.url}{ready_path}"),
        env=full_env,
        timeout=timeout,
        what="agent runtime",
    ) as server:
        yield server
