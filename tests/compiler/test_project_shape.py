"""kaosgen.yaml of a shape that renders little or nothing useful says so where it is."""

from __future__ import annotations

from pathlib import Path

from support.compiler import assert_no_traceback, run_kaosgen, validate_json

RESOURCES = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}
"""
PROJECT = "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"


def test_no_environments_is_a_warning_at_the_key(tmp_path: Path) -> None:
    """`environments: {}` rendered base/ alone, silently: no overlay, no namespace."""
    (tmp_path / "kaosgen.yaml").write_text(PROJECT + "environments: {}\n", encoding="utf-8")
    (tmp_path / "resources.yaml").write_text(RESOURCES, encoding="utf-8")
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert code == 0
    assert [(d["file"], d["line"], d["column"], d["rule"], d["severity"]) for d in diagnostics] == [
        ("kaosgen.yaml", 3, 1, "no-environments", "warning")
    ]
    result = run_kaosgen("render", ".", "--strict", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1 and "[no-environments]" in result.stderr
    assert not (tmp_path / "deploy").exists()


def test_a_block_of_the_wrong_shape_is_called_a_mapping_not_a_python_class(
    tmp_path: Path,
) -> None:
    """pydantic's words named kaosgen's classes ("a valid dictionary or instance of
    WorkloadOverride"), which the user never wrote."""
    (tmp_path / "kaosgen.yaml").write_text(
        PROJECT + "workloads: 5\nenvironments: {dev: {workloads: {modelapi/llm: [1]}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "resources.yaml").write_text(RESOURCES, encoding="utf-8")
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert code == 1
    assert [(d["line"], d["column"], d["message"]) for d in diagnostics] == [
        (3, 12, "workloads: input should be a mapping (got 5)"),
        (4, 48, "environments.dev.workloads.modelapi/llm: input should be a mapping (got [1])"),
    ]
