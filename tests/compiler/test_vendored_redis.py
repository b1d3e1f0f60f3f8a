"""The vendored Redis stays inside its container's limits: a full Redis drops the least
recently used sessions rather than being OOM-killed with every session in it, and its disk
is bounded. Checked on the built overlay, with a real redis-server running its args."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.compiler import Renders, find
from support.process import free_port, running
from support.redis_server import redis_binary, redis_ping

from kaosgen.quantity import parse_quantity

REDIS_PROJECTS = ["multi-agent", "production"]


def _redis(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec = find(objects, "Deployment", "kaos-redis")["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "redis")


def _redis_bytes(value: str) -> int:
    """A redis.conf memory size (`192mb`, `1gb`, `100000`)."""
    units = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "k": 1000, "m": 1000**2, "g": 1000**3}
    lowered = value.lower()
    for unit, factor in units.items():
        if lowered.endswith(unit):
            return int(lowered[: -len(unit)]) * factor
    return int(lowered)


@pytest.mark.parametrize("project", REDIS_PROJECTS)
def test_redis_evicts_below_its_memory_limit(project: str, renders: Renders) -> None:
    for env, objects in renders.overlays(project).items():
        container = _redis(objects)
        args = container["args"]
        maxmemory = _redis_bytes(args[args.index("--maxmemory") + 1])
        assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
        limit = parse_quantity(container["resources"]["limits"]["memory"])
        # Room for Redis's own overhead (buffers, fragmentation) under the limit.
        assert 0 < maxmemory <= limit * 3 / 4, (env, maxmemory, limit)
        assert "ephemeral-storage" in container["resources"]["limits"], env


def test_a_real_redis_server_takes_the_rendered_args(renders: Renders, tmp_path: Path) -> None:
    import redis

    args = _redis(renders.overlays("multi-agent")["prod"])["args"]
    port = free_port()
    argv = [
        redis_binary(),
        *args,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(tmp_path),
    ]
    with running(
        argv,
        port=port,
        log_path=tmp_path / "redis.log",
        ready=lambda _: redis_ping(port),
        timeout=15,
        what="redis-server",
    ):
        client = redis.Redis(port=port)
        maxmemory = _redis_bytes(args[args.index("--maxmemory") + 1])
        assert client.config_get("maxmemory") == {"maxmemory": str(maxmemory)}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        client.close()
