"""Several projects in one call: each input is judged under its own kaosgen.yaml."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from kaosgen.cli import main

REPO = Path(__file__).resolve().parents[2]


def _copy(example: str, dest: Path) -> Path:
    target = dest / example
    shutil.copytree(REPO / "examples" / example, target, ignore=shutil.ignore_patterns("deploy"))
    return target


def test_validate_uses_each_inputs_own_project(tmp_path: Path, monkeypatch) -> None:
    _copy("multi-agent", tmp_path)
    _copy("hierarchy", tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--format", "json", "multi-agent", "hierarchy"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    replicas = [d for d in report["diagnostics"] if d["rule"] == "memory-replicas"]
    # multi-agent's prod runs 2 replicas of an agent with local memory; hierarchy's prod
    # runs 1: only multi-agent warns.
    assert [Path(d["file"]).parts[0] for d in replicas] == ["multi-agent"]


def test_render_writes_each_project_to_its_own_output(tmp_path: Path, monkeypatch) -> None:
    _copy("echo", tmp_path)
    _copy("custom-tools", tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["render", "-q", "echo", "custom-tools"]).exit_code == 0
    assert (tmp_path / "echo/deploy/base/agents/echo-agent.yaml").is_file()
    assert (tmp_path / "custom-tools/deploy/base/agents/text-agent.yaml").is_file()
    # The custom-tools namespace comes from its own kaosgen.yaml, not echo's.
    overlay = (tmp_path / "custom-tools/deploy/overlays/prod/kustomization.yaml").read_text()
    assert "namespace: tools-prod" in overlay
    assert runner.invoke(main, ["render", "--check", "-q", "echo", "custom-tools"]).exit_code == 0
    # One -o for two projects would mix their outputs: refused before anything is written.
    refused = runner.invoke(main, ["render", "-o", "out", "echo", "custom-tools"])
    assert refused.exit_code == 2
    assert "2 projects" in refused.stderr
    assert not (tmp_path / "out").exists()
