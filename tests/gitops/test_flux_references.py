"""Flux `dependsOn` and `healthChecks` name things Flux must find, or it never gets ready.

Found from outside: `dependsOn: [kaos-dev-agents]` (the environment's own agents'
Kustomization, which itself dependsOn the dependencies' one) and `"Gateway CRDs"` rendered;
a health check on an agent's Deployment was put on the dependencies' Kustomization too,
which waited for a Deployment only the agents' Kustomization (waiting for it) applies; and
a health check on `echo` (the Deployment is `agent-echo`) waited for nothing, forever.
"""

from __future__ import annotations

from pathlib import Path

from support.compiler import assert_no_traceback, load_file, run_kaosgen, validate_json

RESOURCES = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: echo}
spec: {modelAPI: llm, model: "smollm2:135m"}
"""
HEAD = """\
apiVersion: kaosgen.dev/v1alpha1
kind: Project
environments:
  dev: {namespace: kaos-dev}
gitops:
  repository: {url: "https://example.com/r.git"}
  flux:
"""


def _write(root: Path, flux: str) -> None:
    (root / "kaosgen.yaml").write_text(HEAD + flux, encoding="utf-8")
    (root / "r.yaml").write_text(RESOURCES, encoding="utf-8")


def test_depends_on_names_flux_can_wait_for(tmp_path: Path) -> None:
    _write(tmp_path, '    dependsOn: [gateway-crds, kaos-dev-agents, "Gateway CRDs"]\n')
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert code == 1
    assert [(d["line"], d["column"], d["rule"]) for d in diagnostics] == [
        (8, 31, "gitops-depends-on"),
        (8, 48, "gitops-name"),
    ]
    result = run_kaosgen("render", ".", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1 and not (tmp_path / "deploy").exists()


def test_a_health_check_sits_on_the_kustomization_that_applies_it(tmp_path: Path) -> None:
    _write(tmp_path, "    healthChecks: [{name: agent-echo}, {name: modelapi-llm}]\n")
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert (code, diagnostics) == (0, [])
    result = run_kaosgen("render", ".", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    flux = load_file(tmp_path / "deploy/clusters/dev/flux.yaml")
    checks = {
        o["metadata"]["name"]: [c["name"] for c in o["spec"].get("healthChecks", [])]
        for o in flux
        if o["kind"] == "Kustomization"
    }
    assert checks == {
        "kaos-dev-dependencies": ["modelapi-llm"],
        "kaos-dev-agents": ["agent-echo"],
    }
    assert all(o["spec"]["wait"] is False for o in flux if o["kind"] == "Kustomization")


def test_a_health_check_on_nothing_rendered_is_a_warning_with_the_name(tmp_path: Path) -> None:
    _write(tmp_path, "    healthChecks:\n    - {name: echo}\n    - {name: Echo Agent}\n")
    code, diagnostics = validate_json(".", cwd=tmp_path)
    found = [(d["line"], d["column"], d["severity"], d["rule"], d["hint"]) for d in diagnostics]
    assert code == 1
    assert found == [
        (
            9,
            14,
            "warning",
            "gitops-health-check",
            "did you mean 'agent-echo'? (kaosgen names Deployments <app>-<name>)",
        ),
        (10, 14, "error", "gitops-name", ""),
    ], found
