"""Annotations the API server would refuse for their size (256 KiB per object, keys and
values together) are located errors at validate and render, and nothing is written."""

from __future__ import annotations

from pathlib import Path

from support.compiler import run_kaosgen, validate_json

LIMIT = 256 * 1024

AGENT = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata:
  name: api
spec:
  mode: Hosted
  hostedConfig:
    model: smollm2:135m
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata:
  name: a
  annotations:
    notes: '{own}'
spec:
  modelAPI: api
  model: smollm2:135m
"""


def write(tmp_path: Path, env_text: int, own_text: int) -> Path:
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\noutput: deploy\n"
        "environments:\n  prod:\n    namespace: kaos-prod\n"
        f"    annotations:\n      runbook: '{'r' * env_text}'\n",
        encoding="utf-8",
    )
    (tmp_path / "agents.yaml").write_text(AGENT.format(own="o" * own_text), encoding="utf-8")
    return tmp_path


def errors(diags: list[dict]) -> list[dict]:
    return [d for d in diags if d["severity"] == "error"]


def test_annotations_within_the_limit_pass(tmp_path: Path) -> None:
    # Each and both together fit: keys 'runbook' (7) and 'notes' (5) count too.
    code, diags = validate_json(write(tmp_path, LIMIT // 2 - 7, LIMIT // 2 - 5 - 64))
    assert code == 0, diags


def test_an_environment_annotation_over_256_kib_is_refused_at_its_map(tmp_path: Path) -> None:
    project = write(tmp_path, LIMIT, 10)
    code, diags = validate_json(project)
    assert code == 1
    [error] = errors(diags)
    assert error["rule"] == "label-invalid"
    assert error["message"].startswith(f"the annotations hold {LIMIT + 7} bytes")
    assert (Path(error["file"]).name, error["line"], error["column"]) == ("kaosgen.yaml", 7, 5)
    result = run_kaosgen("render", str(project), cwd=project)
    assert result.exit_code == 1
    assert not (project / "deploy").exists()


def test_a_workload_and_its_environment_that_fit_alone_but_not_together(tmp_path: Path) -> None:
    code, diags = validate_json(write(tmp_path, LIMIT // 2, LIMIT // 2))
    assert code == 1
    [error] = errors(diags)
    assert "Agent 'a': its annotations and those of environment 'prod' hold" in error["message"]
    assert (Path(error["file"]).name, error["line"], error["column"]) == ("agents.yaml", 14, 3)


def test_a_workload_annotation_over_256_kib_is_refused(tmp_path: Path) -> None:
    code, diags = validate_json(write(tmp_path, 10, LIMIT))
    assert code == 1
    [error] = errors(diags)
    assert error["message"].startswith(f"the annotations hold {LIMIT + 5} bytes")
    assert (Path(error["file"]).name, error["line"]) == ("agents.yaml", 14)
