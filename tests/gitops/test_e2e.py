"""End to end, as a user works: init → edit → validate → render → commit (the pre-commit
hook passes) → change a field → the hook stops the commit with the stale-output message →
`kaosgen diff` shows the change → re-render → commit → `kubectl kustomize` every overlay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.devtools import git, kaosgen, kustomize, load_all, validate_gitops_object
from support.precommit import PreCommit, git_commit

GITOPS = """
gitops:
  repository:
    url: https://git.example.com/platform/agents.git
    path: agents/deploy
  flux: {}
  argocd: {}
"""


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, text)
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_init_to_gitops_delivery(tmp_path: Path, pre_commit: PreCommit) -> None:
    repo = tmp_path / "platform"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)

    # init, then make it ours: a tool description, GitOps delivery.
    kaosgen("init", "agents", cwd=repo, check=True)
    project = repo / "agents"
    _edit(
        project / "agent.yaml",
        "A helpful assistant with an echo tool.",
        "Answers questions about our platform.",
    )
    (project / "kaosgen.yaml").write_text(
        (project / "kaosgen.yaml").read_text(encoding="utf-8") + GITOPS, encoding="utf-8"
    )
    validate = kaosgen("validate", "agents", cwd=repo)
    assert validate.returncode == 0, validate.stderr
    kaosgen("render", "agents", cwd=repo, check=True)
    assert (project / "deploy" / "clusters" / "prod" / "flux.yaml").is_file()

    # Commit with the hooks installed as a git pre-commit hook.
    (repo / ".pre-commit-config.yaml").write_text(pre_commit.config(), encoding="utf-8")
    install = subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "install"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=pre_commit.env(),
    )
    assert install.returncode == 0, install.stdout + install.stderr
    git("add", "-A", cwd=repo)
    first = git_commit(pre_commit, repo, "agents: initial")
    assert first.returncode == 0, first.stdout + first.stderr
    hook_output = first.stdout + first.stderr  # git passes the hook's output through stderr
    assert "kaosgen validate" in hook_output and "Passed" in hook_output
    assert "Failed" not in hook_output
    head = git("rev-parse", "HEAD", cwd=repo).strip()

    # Change a field without re-rendering: the hook stops the commit.
    _edit(project / "agent.yaml", "reasoningLoopMaxSteps: 5", "reasoningLoopMaxSteps: 8")
    git("add", "agents/agent.yaml", cwd=repo)
    stale = git_commit(pre_commit, repo, "agents: more steps")
    assert stale.returncode != 0
    hook_output = stale.stdout + stale.stderr
    assert "rendered output is stale" in hook_output
    assert "run `kaosgen render agents` and commit the result" in hook_output
    assert git("rev-parse", "HEAD", cwd=repo).strip() == head  # no commit was made

    # `kaosgen diff` shows what the render will change, per object.
    diff = kaosgen("diff", "agents", "--no-color", cwd=repo)
    assert diff.returncode == 1
    assert "changed: Deployment agent-assistant (base)  [base/agents/assistant.yaml]" in diff.stdout
    assert '-          value: "5"\n+          value: "8"' in diff.stdout
    against_head = kaosgen("diff", "agents", "--against", "HEAD", "--stat", cwd=repo)
    assert (
        against_head.returncode == 1
        and "changed: Deployment agent-assistant" in against_head.stdout
    )

    # Re-render and commit: the hook passes.
    kaosgen("render", "agents", "-q", cwd=repo, check=True)
    git("add", "-A", cwd=repo)
    second = git_commit(pre_commit, repo, "agents: more steps")
    assert second.returncode == 0, second.stdout + second.stderr
    assert git("status", "--porcelain", cwd=repo) == ""

    # Every overlay builds; the GitOps objects point at it and match the upstream CRDs.
    for env in ("dev", "prod"):
        objects = kustomize(project / "deploy" / "overlays" / env)
        agent = next(
            o
            for o in objects
            if o["kind"] == "Deployment" and o["metadata"]["name"] == "agent-assistant"
        )
        env_vars = {
            e["name"]: e.get("value")
            for e in agent["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env_vars["AGENTIC_LOOP_MAX_STEPS"] == "8"
        assert env_vars["AGENT_DESCRIPTION"] == "Answers questions about our platform."
        cluster_objects = load_all(
            (project / "deploy" / "clusters" / env / "flux.yaml").read_text(encoding="utf-8")
        )
        cluster_objects += load_all(
            (project / "deploy" / "clusters" / env / "argocd.yaml").read_text(encoding="utf-8")
        )
        for obj in cluster_objects:
            validate_gitops_object(obj)
        # They point at the environment's one hydrated shard, which builds to the overlay's
        # objects.
        paths = {o["spec"]["path"] for o in cluster_objects if o["kind"] == "Kustomization"}
        assert paths == {f"./agents/deploy/hydrated/{env}/all"}
        (app,) = [o for o in cluster_objects if o["kind"] == "Application"]
        assert app["spec"]["source"]["path"] == f"agents/deploy/hydrated/{env}/all"
        shard = kustomize(repo / app["spec"]["source"]["path"])
        assert sorted(map(_identity, shard)) == sorted(map(_identity, objects))
        assert sorted(shard, key=_identity) == sorted(objects, key=_identity)


def _identity(obj: dict) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
