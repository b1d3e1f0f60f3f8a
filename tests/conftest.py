"""Fixtures shared by every test suite (real servers on loopback live in `support/`)."""

import os

from hypothesis import settings
from support.llm_server import real_llm_url
from support.redis_server import describe_redis_server, redis_server, redis_url

__all__ = ["real_llm_url", "redis_server", "redis_url"]

# The property tests draw the same examples on every run, so CI and a fresh clone pass or
# fail the same way for the same code; KAOSGEN_EXPLORE=1 draws new ones (run it often:
# a failure found so is kept in .hypothesis/ and replayed, and belongs in an @example).
settings.register_profile("reproducible", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("KAOSGEN_EXPLORE") else "reproducible")


def pytest_report_header() -> list[str]:
    """Which real Redis the memory tests run against."""
    return [describe_redis_server()]
