"""A real `redis-server` on a free loopback port, for the memory and agent tests.

Skipped when `redis-server` is not on PATH, unless `KAOSGEN_REQUIRE_REDIS=1` (CI), where a
missing binary is a failure: the Redis tests must not silently stop running.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import Server, free_port, running

REQUIRE_ENV = "KAOSGEN_REQUIRE_REDIS"


def redis_ping(port: int) -> bool:
    """True when a Redis on `port` answers PING (raw RESP, no client library needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_binary() -> str:
    """The redis-server path, or skip/fail the test as the environment asks."""
    path = shutil.which("redis-server")
    if path:
        return path
    reason = "redis-server is not on PATH (apt-get install redis-server)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def start_redis(directory: Path) -> Iterator[Server]:
    """Run a throwaway redis-server (no persistence, loopback only) inside `directory`."""
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
    with running(
        argv,
        port=port,
        log_path=directory / "redis.log",
        ready=lambda _: redis_ping(port),
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
