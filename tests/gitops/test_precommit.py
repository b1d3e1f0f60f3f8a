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
        assert hook["always_run"] is True  # pre-commit passes no deleted file


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


SECOND_AGENT = """\
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata:
  name: second
spec:
  modelAPI: ollama
  model: ollama/smollm2:135m
"""


def test_a_deleted_input_is_checked(tmp_path: Path, pre_commit: PreCommit) -> None:
    """pre-commit passes no deleted file to a hook (and skips a hook with no files): a
    commit that only deletes an agent's file, output not re-rendered, would keep
    delivering the agent. The hooks find the deletions themselves, staged or between
    --from-ref and --to-ref."""
    work = _repo_with_project(tmp_path, pre_commit)
    (work / "agents" / "second.yaml").write_text(SECOND_AGENT, encoding="utf-8")
    kaosgen("render", "agents", "-q", cwd=work, check=True)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "second agent", cwd=work)
    before = git("rev-parse", "HEAD", cwd=work).strip()

    git("rm", "-q", "agents/second.yaml", cwd=work)
    proc = pre_commit.run(work, "kaosgen-render-check")  # staged, as in `git commit`
    assert proc.returncode == 1, proc.stdout
    assert "- agents/deploy/base/agents/second.yaml" in proc.stdout
    assert "run `kaosgen render agents` and commit the result" in proc.stdout

    git("commit", "-q", "--no-verify", "-m", "delete without render", cwd=work)
    after = git("rev-parse", "HEAD", cwd=work).strip()
    proc = pre_commit.run(
        work, "kaosgen-render-check", "--from-ref", before, "--to-ref", after
    )  # CI on a pull request
    assert proc.returncode == 1, proc.stdout
    assert "- agents/deploy/base/agents/second.yaml" in proc.stdout

    # Deleting the ModelAPI the agent uses: validate names the broken reference.
    git("rm", "-q", "agents/modelapi.yaml", cwd=work)
    proc = pre_commit.run(work, "kaosgen-validate")
    assert proc.returncode == 1, proc.stdout
    assert "[ref-modelapi]" in proc.stdout


def test_unrelated_changes_pass_quickly(tmp_path: Path, pre_commit: PreCommit) -> None:
    """A commit that touches no project (a README, a deleted file outside any project)
    runs the hooks, finds nothing to check and passes."""
    import time

    work = _repo_with_project(tmp_path, pre_commit)
    _edit(work / "README.md", "not yaml", "still not yaml")
    (work / "notes.yaml").write_text("just: data\n", encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "-q", "--no-verify", "-m", "notes", cwd=work)
    git("rm", "-q", "notes.yaml", cwd=work)
    _edit(work / "README.md", "still not yaml", "no yaml at all")
    git("add", "-A", cwd=work)
    pre_commit.run(work, "kaosgen-validate")  # waits for the cached hook environment
    started = time.monotonic()
    proc = pre_commit.run(work)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout
    assert "Failed" not in proc.stdout
    assert elapsed < 20, elapsed
