"""Fixtures shared by every test suite (real servers on loopback live in `support/`)."""

from support.llm_server import real_llm_url
from support.redis_server import redis_server, redis_url

__all__ = ["real_llm_url", "redis_server", "redis_url"]
