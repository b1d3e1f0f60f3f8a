"""The pre-commit hook repository and its offline wheelhouse, built once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.precommit import PreCommit, build_wheelhouse, snapshot_repo


@pytest.fixture(scope="session")
def pre_commit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreCommit]:
    base = tmp_path_factory.mktemp("pre-commit")
    wheelhouse = build_wheelhouse(base / "wheelhouse")
    hook_repo = snapshot_repo(base / "hook-repo")
    tool = PreCommit(base, wheelhouse, hook_repo)
    tool.start_install(base / "scratch")  # the cached environment for `pre-commit run`
    yield tool
    tool.cleanup()
