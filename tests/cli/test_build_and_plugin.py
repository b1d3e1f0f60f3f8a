"""`kaosgen build --env`: one environment's manifests on stdout, and the Argo CD Config
Management Plugin (integrations/argocd/plugin.yaml) that runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ruamel.yaml import YAML
from support.devtools import REPO, kaosgen, kustomize, load_all, tool_env

EXAMPLE = REPO / "examples" / "multi-agent"


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "multi-agent"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("deploy"))
    return project


def _names(objects: list[dict]) -> list[tuple[str, str, str]]:
    return sorted(
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects
    )


def _key(obj: dict) -> tuple[str, str, str, str]:
    return (
        obj["apiVersion"],
        obj["kind"],
        obj["metadata"].get("namespace", ""),
        obj["metadata"]["name"],
    )


def test_build_prints_what_kubectl_kustomize_builds(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    proc = kaosgen("build", "--env", "prod", ".", cwd=project, check=True)
    built = load_all(proc.stdout)
    # The same objects, without running kustomize (in the order GitOps applies them).
    assert sorted(built, key=_key) == sorted(
        kustomize(EXAMPLE / "deploy" / "overlays" / "prod"), key=_key
    )
    assert not (project / "deploy").exists()  # nothing written next to the inputs
    assert {o["metadata"]["namespace"] for o in built if "namespace" in o["metadata"]} == {
        "agents-prod"
    }
    # The environment can come from KAOSGEN_ENV (and ARGOCD_ENV_KAOSGEN_ENV in the plugin).
    env_proc = kaosgen("build", cwd=project, env=tool_env(KAOSGEN_ENV="dev"), check=True)
    assert _names(load_all(env_proc.stdout)) == _names(
        kustomize(EXAMPLE / "deploy" / "overlays" / "dev")
    )


def test_build_errors(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    proc = kaosgen("build", ".", cwd=project)
    assert proc.returncode == 2 and "choose an environment with --env (dev, prod)" in proc.stderr
    proc = kaosgen("build", "--env", "staging", ".", cwd=project)
    assert proc.returncode == 2 and "unknown environment 'staging'" in proc.stderr
    agents = project / "agents.yaml"
    agents.write_text(
        agents.read_text(encoding="utf-8").replace("modelAPI: ollama", "modelAPI: nope", 1),
        encoding="utf-8",
    )
    proc = kaosgen("build", "--env", "dev", ".", cwd=project)
    assert proc.returncode == 1 and proc.stdout == "" and "[ref-modelapi]" in proc.stderr


def _plugin() -> dict:
    return YAML(typ="safe").load(
        (REPO / "integrations" / "argocd" / "plugin.yaml").read_text(encoding="utf-8")
    )


def _sh(step: dict, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*step["command"], *step["args"]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_config_management_plugin_generates_one_environment(tmp_path: Path) -> None:
    plugin = _plugin()
    assert (
        plugin["apiVersion"] == "argoproj.io/v1alpha1"
        and plugin["kind"] == "ConfigManagementPlugin"
    )
    assert plugin["metadata"]["name"] == "kaosgen"
    spec = plugin["spec"]
    assert set(spec) >= {"init", "generate", "discover"}
    assert spec["discover"]["fileName"] == "./kaosgen.yaml"
    project = _copy(tmp_path)
    # Argo CD runs the steps in the application's source directory, with the plugin env
    # prefixed ARGOCD_ENV_ (the Applications kaosgen renders set KAOSGEN_ENV).
    env = tool_env(ARGOCD_ENV_KAOSGEN_ENV="prod", ARGOCD_APP_NAME="kaos-prod")
    init = _sh(spec["init"], project, env)
    assert init.returncode == 0, init.stderr
    generate = _sh(spec["generate"], project, env)
    assert generate.returncode == 0, generate.stderr
    assert sorted(load_all(generate.stdout), key=_key) == sorted(
        kustomize(EXAMPLE / "deploy" / "overlays" / "prod"), key=_key
    )
    # Without the env, a clear message instead of a guess.
    missing = _sh(spec["generate"], project, tool_env())
    assert missing.returncode != 0 and "KAOSGEN_ENV" in missing.stderr
    # Invalid input fails in init, with compiler diagnostics.
    agents = project / "agents.yaml"
    agents.write_text(
        agents.read_text(encoding="utf-8").replace("modelAPI: ollama", "modelAPI: nope", 1),
        encoding="utf-8",
    )
    init = _sh(spec["init"], project, env)
    assert init.returncode == 1 and "[ref-modelapi]" in init.stderr


_SCALARS = """\
apiVersion: v1
kind: Service
metadata:
  name: metrics
  annotations: {prometheus.io/scrape: true, prometheus.io/port: 9090}
spec: {ports: [{port: 9090}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: exporter}
spec:
  replicas: 2.0
  selector: {matchLabels: {app: exporter}}
  template:
    metadata: {labels: {app: exporter}}
    spec:
      containers: [{name: c, image: busybox}]
      volumes: [{name: s, secret: {secretName: s, defaultMode: 0400}}]
"""


def test_build_prints_scalars_as_kustomize_does(tmp_path: Path) -> None:
    """`kaosgen build | kubectl apply -f -`: annotation values are strings, 2.0 is 2 and
    0400 octal, as `kubectl kustomize` of the rendered overlay prints them."""
    import json

    project = _copy(tmp_path)
    (project / "extra.yaml").write_text(_SCALARS, encoding="utf-8")
    built = {
        o["metadata"]["name"]: o
        for o in load_all(kaosgen("build", "--env", "prod", ".", cwd=project, check=True).stdout)
    }
    kaosgen("render", ".", cwd=project, check=True)
    overlay = {
        o["metadata"]["name"]: o for o in kustomize(project / "deploy" / "overlays" / "prod")
    }
    service, deployment = built["metrics"], built["exporter"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9090"
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert json.dumps(deployment["spec"]["replicas"]) == "2"
    assert deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["defaultMode"] == 0o400
    for name in ("metrics", "exporter"):
        assert json.dumps(built[name], sort_keys=True) == json.dumps(overlay[name], sort_keys=True)
