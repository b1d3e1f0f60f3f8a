"""Start a real server as a subprocess on a free loopback port and stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Keep every child process off the network at start-up, as the images do.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "FASTMCP_CHECK_FOR_UPDATES": "off",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    """A TCP port nothing listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Server:
    """A running child process and where its output goes."""

    process: subprocess.Popen
    log_path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def wait_until(server: Server, ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `ready` until true; fail with the child's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not server.alive():
            raise RuntimeError(
                f"{what} exited with {server.process.returncode} before it was ready:\n"
                f"{server.log()[-4000:]}"
            )
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{what} not ready after {timeout:.0f}s:\n{server.log()[-4000:]}")


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's env plus the offline variables and `extra`."""
    env = {**os.environ, **OFFLINE_ENV}
    if extra:
        env.update(extra)
    return env


@contextlib.contextmanager
def running(
    argv: list[str],
    *,
    port: int,
    log_path: Path,
    ready: Callable[[Server], bool],
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    what: str | None = None,
) -> Iterator[Server]:
    """Run `argv` until the block ends; output (stdout and stderr) goes to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    server = Server(process, log_path, port)
    try:
        wait_until(server, lambda: ready(server), timeout, what or argv[0])
        yield server
    finally:
        server.stop()


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs `python -m module` with the interpreter running the tests."""
    return [sys.executable, "-m", module, *args]
