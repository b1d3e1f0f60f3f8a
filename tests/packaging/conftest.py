"""kaosgen as users get it: the wheel and sdist `uv build` makes, installed offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import wheels


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) of this working tree."""
    return wheels.build_dists(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every dependency of `kaosgen[runtime]` and the build backend, as wheels."""
    return wheels.build_wheelhouse(
        tmp_path_factory.mktemp("wheels") / "wheelhouse", extras=("runtime",), build_backend=True
    )
