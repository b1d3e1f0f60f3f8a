"""The hooks of .pre-commit-hooks.yaml, run by the real pre-commit (`try-repo`), offline."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML
from support.devtools import REPO, git, kaosgen
from support.precommit import PreCommit


def test_manifest_declares_the_hooks() -> None:
    hooks = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert {"kaosgen-validate", "kaosgen-render-check"} <= set(by_id)
    for hook in hooks:
        assert hook["language"] == "python"
        assert hook["entry"].startswith("kaosgen hook ")
        assert hook["types"] == ["yaml"]


def _repo_with_project(tmp_path: Path, pre_commit: PreCommit) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    kaosgen("init", "agents", cwd=work, check=True)
    kaosgen("render", "agents", "-q", cwd=work, check=True)
    (work / "README.md").write_text("not yaml\n", encoding="utf-8")
    (work / ".pre-commit-config.yaml").write_text(pre_commit.config(), encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "good", cwd=work)
    return work


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_try_repo_on_a_good_and_a_bad_commit(tmp_path: Path, pre_commit: PreCommit) -> None:
    """`pre-commit try-repo <this repo>`: every hook passes on the good commit; on the bad
    one (an input changed, output not re-rendered) render-check fails with the fix."""
    work = _repo_with_project(tmp_path, pre_commit)
    good = git("rev-parse", "HEAD", cwd=work).strip()
    _edit(work / "agents" / "agent.yaml", "reasoningLoopMaxSteps: 5", "reasoningLoopMaxSteps: 7")
    git("commit", "-q", "-am", "bad: input changed, output not re-rendered", cwd=work)
    bad = git("rev-parse", "HEAD", cwd=work).strip()
    good_tree, bad_tree = tmp_path / "good", tmp_path / "bad"
    git("clone", "-q", str(work), str(good_tree), cwd=tmp_path)
    git("checkout", "-q", good, cwd=good_tree)
    git("clone", "-q", str(work), str(bad_tree), cwd=tmp_path)
    # Both installs at once (try-repo builds a fresh environment every time).
    runs = {
        "good": pre_commit.try_repo(good_tree, "--all-files"),
        "bad": pre_commit.try_repo(
            bad_tree, "kaosgen-render-check", "--from-ref", good, "--to-ref", bad
        ),
    }
    out = {name: proc.communicate(timeout=600)[0] for name, proc in runs.items()}
    codes = {name: proc.returncode for name, proc in runs.items()}
    assert codes["good"] == 0, out["good"]
    for hook in ("kaosgen validate", "kaosgen render --check", "kaosgen render"):
        assert f"{hook}..." in out["good"]
    assert "Failed" not in out["good"]
    assert codes["bad"] == 1, out["bad"]
    assert "rendered output is stale" in out["bad"]
    assert "run `kaosgen render agents` and commit the result" in out["bad"]
    assert "~ agents/deploy/base/agents/assistant.yaml" in out["bad"]


def test_validate_hook_reports_errors_with_file_and_line(
    tmp_path: Path, pre_commit: PreCommit
) -> None:
    work = _repo_with_project(tmp_path, pre_commit)
    agent = work / "agents" / "agent.yaml"
    _edit(agent, "modelAPI: ollama", "modelAPI: olama")
    git("add", "agents/agent.yaml", cwd=work)
    proc = pre_commit.run(work, "kaosgen-validate")  # staged files, as in `git commit`
    assert proc.returncode == 1, proc.stdout
    assert "agents/agent.yaml:" in proc.stdout and "[ref-modelapi]" in proc.stdout
    assert "did you mean 'ollama'?" in proc.stdout
    # Files outside a project are left alone; a YAML file that is not KAOS too.
    _edit(agent, "modelAPI: olama", "modelAPI: ollama")
    (work / "other.yaml").write_text("just: data\n", encoding="utf-8")
    git("add", "-A", cwd=work)
    proc = pre_commit.run(work, "kaosgen-validate")
    assert proc.returncode == 0, proc.stdout


def test_render_check_catches_hand_edits_of_the_output(
    tmp_path: Path, pre_commit: PreCommit
) -> None:
    work = _repo_with_project(tmp_path, pre_commit)
    kustomization = work / "agents" / "deploy" / "overlays" / "dev" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text(encoding="utf-8") + "# tweak\n", encoding="utf-8"
    )
    git("add", "-A", cwd=work)
    proc = pre_commit.run(work, "kaosgen-render-check")
    assert proc.returncode == 1, proc.stdout
    assert "~ agents/deploy/overlays/dev/kustomization.yaml" in proc.stdout
