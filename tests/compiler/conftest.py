"""Fixtures for the compiler tests: every project rendered once, every overlay built once."""

from __future__ import annotations

import pytest
from support.compiler import Renders


@pytest.fixture(scope="session")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    return Renders(tmp_path_factory.mktemp("renders"))
