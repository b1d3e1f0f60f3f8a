"""Fixtures shared by every test suite (real servers on loopback live in `support/`)."""

from support.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]
