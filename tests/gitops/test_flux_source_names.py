"""A Flux source name shared by environments whose sources differ is a located warning.

A top-level `gitops.flux.source.name` gave every environment the same GitRepository
while their branches differed: on one cluster each environment's apply replaced the
other's, and both deployed whichever branch was applied last, with no word from kaosgen.
"""

from __future__ import annotations

from pathlib import Path

from support.compiler import run_kaosgen, validate_json

RESOURCES = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
    'spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}\n'
)
PROJECT = """\
apiVersion: kaosgen.dev/v1alpha1
kind: Project
environments:
  dev:
    namespace: kaos-dev
    gitops: {{repository: {{revision: {dev}}}}}
  prod:
    namespace: kaos-prod
    gitops: {{repository: {{revision: main}}}}
gitops:
  repository: {{url: "https://example.com/r.git"}}
  flux:
    source: {{name: {name}}}
"""


def _validate(root: Path, dev: str, name: str = "kaos") -> list[dict]:
    (root / "kaosgen.yaml").write_text(PROJECT.format(dev=dev, name=name), encoding="utf-8")
    (root / "r.yaml").write_text(RESOURCES, encoding="utf-8")
    code, diagnostics = validate_json(".", cwd=root)
    assert code == 0, diagnostics
    return diagnostics


def test_one_source_name_for_different_branches_is_a_warning_at_the_name(
    tmp_path: Path,
) -> None:
    diagnostics = _validate(tmp_path, "dev")
    assert [(d["line"], d["column"], d["rule"]) for d in diagnostics] == [
        (13, 20, "gitops-source-name")
    ]
    message = diagnostics[0]["message"]
    assert "'dev' and 'prod'" in message and "GitRepository 'kaos'" in message
    assert "different ref" in message
    assert "remove gitops.flux.source.name" in diagnostics[0]["hint"]
    # A warning: environments on separate clusters render as before.
    assert run_kaosgen("render", ".", "-q", cwd=tmp_path).exit_code == 0
    strict = run_kaosgen("validate", "--strict", ".", cwd=tmp_path)
    assert strict.exit_code == 1


def test_one_source_name_for_the_same_source_is_fine(tmp_path: Path) -> None:
    assert _validate(tmp_path, "main") == []
