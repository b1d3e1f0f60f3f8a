"""A Docker config that is no file or no sane JSON is a clear error of `images pin`, never
a hang (a FIFO blocks an open() forever) or a traceback (JSON nested past Python's
recursion limit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen
from support.devtools import REPO

from kaosgen.dockerconfig import CredentialsError, DockerConfig


def test_deeply_nested_json_is_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(CredentialsError, match="is not valid JSON: nested too deeply"):
        DockerConfig(path)


@pytest.mark.timeout(30)
def test_a_fifo_is_refused_unread(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.json")
    with pytest.raises(CredentialsError, match=r"is a named pipe \(FIFO\), not a regular file"):
        DockerConfig(tmp_path / "config.json")


def test_a_device_is_refused_unread(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "config.json")
    with pytest.raises(CredentialsError, match="is a character device, not a regular file"):
        DockerConfig(tmp_path / "config.json")


@pytest.mark.timeout(60)
def test_images_pin_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docker").mkdir()
    os.mkfifo(tmp_path / "docker" / "config.json")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    project = tmp_path / "echo"
    for name in ("kaosgen.yaml", "resources.yaml"):
        (project / name).parent.mkdir(exist_ok=True)
        (project / name).write_bytes((REPO / "examples" / "echo" / name).read_bytes())
    result = run_kaosgen("images", "pin", project)
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'docker' / 'config.json'}: is a named pipe (FIFO), not a "
        "regular file\n"
    )
