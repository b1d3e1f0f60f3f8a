"""Fixtures shared by every test suite (real servers on loopback live in `support/`)."""

from support.llm_server import real_llm_url
from support.redis_server import describe_redis_server, redis_server, redis_url

__all__ = ["real_llm_url", "redis_server", "redis_url"]


def pytest_report_header() -> list[str]:
    """Which real Redis the memory tests run against."""
    return [describe_redis_server()]
