"""`kaosgen diff`: per-object changes against the output on disk, a directory or a git ref."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.devtools import REPO, git, kaosgen

EXAMPLE = REPO / "examples" / "echo"

NEW_SERVER = """---
apiVersion: kaos.tools/v1alpha1
kind: MCPServer
metadata:
  name: clock
spec:
  runtime: python-string
  params: |
    def now() -> str:
        \"\"\"The time.\"\"\"
        return "noon"
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "echo"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("deploy"))
    kaosgen("render", ".", "-q", cwd=project, check=True)
    return project


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_no_changes_exits_0(tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = kaosgen("diff", ".", cwd=project)
    assert proc.returncode == 0 and proc.stdout == "" and "no changes" in proc.stderr


def test_changed_added_removed_objects_with_unified_diffs(tmp_path: Path) -> None:
    project = _project(tmp_path)
    resources = project / "resources.yaml"
    _edit(resources, "reasoningLoopMaxSteps: 3", "reasoningLoopMaxSteps: 4")
    resources.write_text(resources.read_text(encoding="utf-8") + NEW_SERVER, encoding="utf-8")
    proc = kaosgen("diff", ".", "--no-color", cwd=project)
    assert proc.returncode == 1
    out = proc.stdout
    assert "changed: Deployment agent-echo-agent (base)  [base/agents/echo-agent.yaml]" in out
    assert '-          value: "3"\n+          value: "4"' in out
    assert "added: Deployment mcpserver-clock (base)  [base/mcpservers/clock.yaml]" in out
    assert "added: Service mcpserver-clock (base)" in out
    assert "--- /dev/null\n+++ b/base/mcpservers/clock.yaml" in out
    # The base lists the new file; prod (2 replicas) gets a PodDisruptionBudget for it.
    assert "changed: Kustomization base/kustomization.yaml (base)" in out
    assert "+- mcpservers/clock.yaml" in out
    assert (
        "added: PodDisruptionBudget mcpserver-clock (overlays/prod)  [overlays/prod/pdbs.yaml]"
        in out
    )
    assert out.rstrip().splitlines()[-1] == "5 added, 2 changed, 0 removed"
    stat = kaosgen("diff", ".", "--stat", cwd=project)
    assert (
        stat.returncode == 1
        and "---" not in stat.stdout
        and "added: Deployment mcpserver-clock" in stat.stdout
    )
    # Removing a workload shows its objects as removed.
    kaosgen("render", ".", "-q", cwd=project, check=True)
    resources.write_text(
        resources.read_text(encoding="utf-8").replace(NEW_SERVER, ""), encoding="utf-8"
    )
    proc = kaosgen("diff", ".", "--stat", cwd=project)
    assert proc.returncode == 1 and "removed: Deployment mcpserver-clock (base)" in proc.stdout


def test_against_a_directory(tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = kaosgen("diff", ".", "--against", str(EXAMPLE / "deploy"), cwd=project)
    assert proc.returncode == 0, proc.stdout
    other = tmp_path / "other"
    shutil.copytree(project / "deploy", other)
    _edit(
        other / "overlays" / "prod" / "kustomization.yaml",
        "namespace: kaos-prod",
        "namespace: kaos-old",
    )
    proc = kaosgen("diff", ".", "--against", str(other), "--stat", cwd=project)
    assert proc.returncode == 1
    assert "changed: Kustomization overlays/prod/kustomization.yaml (overlays/prod)" in proc.stdout


def test_against_a_git_ref_renders_the_inputs_of_that_ref(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    project = repo / "echo"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("deploy"))
    git("add", "-A", cwd=repo)  # the rendered output is not even committed
    git("commit", "-q", "-m", "v1", cwd=repo)
    _edit(project / "kaosgen.yaml", "namespace: kaos-prod", "namespace: kaos-production")
    git("commit", "-q", "-am", "v2", cwd=repo)
    proc = kaosgen("diff", "echo", "--against", "HEAD~1", "--no-color", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert "changed: Kustomization overlays/prod/kustomization.yaml (overlays/prod)" in proc.stdout
    assert "-namespace: kaos-prod\n+namespace: kaos-production" in proc.stdout
    assert "base/" not in proc.stdout  # only the overlay changed
    assert kaosgen("diff", "echo", "--against", "HEAD", cwd=repo).returncode == 0
    # Working-tree edits count too (they are what a render would use).
    _edit(project / "kaosgen.yaml", "namespace: kaos-dev", "namespace: kaos-development")
    assert kaosgen("diff", "echo", "--against", "HEAD", "--stat", cwd=repo).returncode == 1
    # A project that did not exist at the ref: everything is added.
    proc = kaosgen("diff", "echo", "--against", "HEAD~1", "--stat", cwd=repo)
    assert proc.returncode == 1
    bad = kaosgen("diff", "echo", "--against", "no-such-ref", cwd=repo)
    assert bad.returncode == 2 and "neither a directory nor a git revision" in bad.stderr
