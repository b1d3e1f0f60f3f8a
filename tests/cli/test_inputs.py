"""Which files are the input (issue 9): `validate FILE` within its project, `exclude:` in
kaosgen.yaml, `-` for stdin, kaosgen.yaml never read as a resource."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.compiler import EXAMPLES_DIR, assert_no_traceback, run_kaosgen, tree

from kaosgen.ownership import MANIFEST

MODELAPI = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
    'spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}\n'
)
AGENT = (
    "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
    'spec: {modelAPI: llm, model: "smollm2:135m"}\n'
)
PROJECT = "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"


def _project(root: Path, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (root / "modelapi.yaml").write_text(MODELAPI, encoding="utf-8")
    (root / "agent.yaml").write_text(AGENT, encoding="utf-8")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_validate_file_resolves_references_in_the_rest_of_its_project(tmp_path: Path) -> None:
    _project(tmp_path / "p")
    result = run_kaosgen("validate", "p/agent.yaml", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "not found" not in result.output
    # The same file outside any project is judged alone, as before.
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "agent.yaml").write_text(AGENT, encoding="utf-8")
    (tmp_path / "loose" / "modelapi.yaml").write_text(MODELAPI, encoding="utf-8")
    alone = run_kaosgen("validate", "loose/agent.yaml", cwd=tmp_path)
    assert alone.exit_code == 1
    assert "ModelAPI 'llm' not found" in alone.stderr


def test_render_of_one_file_renders_its_whole_project(tmp_path: Path) -> None:
    """A render's output directory holds the whole project: rendering one file (or a
    subdirectory) must not remove the other files' objects from it."""
    _project(tmp_path / "p", **{"more/second.yaml": AGENT.replace("name: a}", "name: b}")})
    whole = run_kaosgen("render", "p", cwd=tmp_path)
    assert whole.exit_code == 0, whole.output
    rendered = tree(tmp_path / "p" / "deploy")
    for only in ("p/agent.yaml", "p/more", "p/more/second.yaml"):
        result = run_kaosgen("render", only, cwd=tmp_path)
        assert_no_traceback(result)
        assert result.exit_code == 0, result.output
        assert f"note: {only} belongs to the project in p; rendering the whole project" in (
            result.stderr
        )
        assert "0 added, 0 changed, 0 removed" in result.stderr
        assert tree(tmp_path / "p" / "deploy") == rendered
    assert {"base/agents/a.yaml", "base/agents/b.yaml"} <= set(rendered)


def test_validate_file_shows_only_its_own_problems(tmp_path: Path) -> None:
    broken = AGENT.replace("name: a}", "name: b}").replace("llm", "nope")
    _project(tmp_path / "p", **{"other.yaml": broken})
    result = run_kaosgen("validate", "p/agent.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "nope" not in result.stderr
    assert (
        "p: warning: 1 error(s) in other files of this project are not shown [other-files]"
        in result.stderr
    )
    assert "run `kaosgen validate p` to see them" in result.stderr
    named = run_kaosgen("validate", "p/other.yaml", cwd=tmp_path)
    assert named.exit_code == 1
    assert "p/other.yaml:4:18: error: ModelAPI 'nope' not found" in named.stderr
    # kaosgen.yaml named on its own is the project, never a resource.
    project_only = run_kaosgen("validate", "--format", "json", "p/kaosgen.yaml", cwd=tmp_path)
    assert project_only.exit_code == 0, project_only.output
    assert [d["rule"] for d in project_only.json()["diagnostics"]] == ["other-files"]


def test_excluded_paths_are_not_input(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "p",
        **{
            "ci/pipeline.yaml": "stages: [test]\n",
            "docs/notes.yaml": "todo: [agents]\n",
            "drafts/agent.yaml": AGENT.replace("name: a}", "name: draft}"),
        },
    )
    not_excluded = run_kaosgen("render", "p", cwd=tmp_path)
    assert not_excluded.exit_code == 1
    assert "add `exclude: [ci/pipeline.yaml]` to kaosgen.yaml" in not_excluded.stderr
    (project / "kaosgen.yaml").write_text(
        PROJECT + "exclude: [ci/, docs/*.yaml, drafts/]\n", encoding="utf-8"
    )
    result = run_kaosgen("render", "p", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rendered = tree(project / "deploy")
    assert "base/agents/a.yaml" in rendered and "base/agents/draft.yaml" not in rendered
    # A file named on the command line is read even when a pattern matches it.
    named = run_kaosgen("validate", "p/ci/pipeline.yaml", cwd=tmp_path)
    assert named.exit_code == 1 and "[not-kubernetes]" in named.stderr


def test_rendered_output_among_the_inputs_is_an_error_not_objects(tmp_path: Path) -> None:
    """A copy of an output directory (or another project's output) inside the project:
    its files are not read as objects (they were: every Deployment twice and each
    kustomization as an object); one error per output directory names the exclude."""
    project = tmp_path / "p"
    shutil.copytree(EXAMPLES_DIR / "echo", project)
    shutil.copytree(project / "deploy", project / "old")
    wrong = run_kaosgen("render", "p", "-o", "out", cwd=tmp_path)
    assert wrong.exit_code == 1 and not (tmp_path / "out").exists()
    (error,) = [line for line in wrong.stderr.splitlines() if "[rendered-output]" in line]
    files = sum(1 for f in (project / "old").rglob("*.yaml") if f.name != MANIFEST)
    assert f"old/ holds kaosgen's rendered output ({files} file(s))" in error
    assert error.startswith("p/old/")
    assert "add `exclude: [old/]` to kaosgen.yaml" in wrong.stderr
    config = project / "kaosgen.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "exclude: [old/]\n", encoding="utf-8")
    right = run_kaosgen("render", "p", "-o", "out", cwd=tmp_path)
    assert right.exit_code == 0, right.output
    rendered = tree(tmp_path / "out")
    original = tree(project / "deploy")
    assert rendered.keys() == original.keys()
    assert all(rendered[k] == original[k] for k in original if k != MANIFEST)
    # One rendered file named on the command line: the same error, about the file.
    named = run_kaosgen("validate", "p/old/base/kustomization.yaml", cwd=tmp_path)
    assert named.exit_code == 1
    assert "this file is kaosgen's rendered output" in named.stderr


def _stdin_run(args: list[str], text: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kaosgen", *args],
        input=text,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dash_reads_documents_from_stdin(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "echo" / "resources.yaml").read_text(encoding="utf-8")
    validated = _stdin_run(["validate", "-"], text, tmp_path)
    assert validated.returncode == 0, validated.stderr
    built = _stdin_run(["build", "-"], text, tmp_path)
    assert built.returncode == 0, built.stderr
    assert "name: agent-echo-agent" in built.stdout
    rendered = _stdin_run(["render", "-", "-o", "out"], text, tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert 'kaosgen.dev/source: "<stdin>#' in (
        tmp_path / "out/base/agents/echo-agent.yaml"
    ).read_text(encoding="utf-8")
    broken = _stdin_run(["validate", "-"], "kind: Agent\nspec: [\n", tmp_path)
    assert broken.returncode == 1
    assert "<stdin>:3:1: error: YAML syntax error" in broken.stderr


def test_stdin_is_bounded_like_a_file(tmp_path: Path) -> None:
    from kaosgen.limits import MAX_FILE_BYTES

    huge = "# " + "x" * MAX_FILE_BYTES + "\n"
    result = _stdin_run(["validate", "-"], huge, tmp_path)
    assert result.returncode == 1
    assert "<stdin>: error: file is over the 8 MiB limit for one input [file-size]" in (
        result.stderr
    )
