"""No pod kaosgen renders can fill its node's disk.

Every emptyDir kaosgen renders has a sizeLimit, every container an ephemeral-storage limit,
and the pod's limit (what the kubelet evicts on: emptyDirs, logs and writable layers
together) holds its volumes, so the pod is bounded without being evicted by its own model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.compiler import (
    GITOPS,
    PROJECTS,
    Renders,
    assert_hydrated_equals_overlay,
    build_overlay,
    kaos,
    render_ok,
    write_docs,
)

from kaosgen.quantity import parse_quantity

GI = 2**30


def _pod_limit(spec: dict[str, Any]) -> float:
    """The pod's ephemeral-storage limit as the kubelet computes it: the sum over its
    containers, or the largest init container's if larger (0: unbounded)."""

    def limit(c: dict[str, Any]) -> float:
        value = ((c.get("resources") or {}).get("limits") or {}).get("ephemeral-storage")
        return float(parse_quantity(value)) if value is not None else 0.0

    containers = spec["containers"]
    if any(limit(c) == 0 for c in containers):
        return 0.0
    return max([sum(map(limit, containers)), *map(limit, spec.get("initContainers", []))])


def _kaosgen_deployments(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The workloads' Deployments and the vendored Redis (not pass-through documents)."""
    return [
        o
        for o in objects
        if o["kind"] == "Deployment"
        and o["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "kaosgen"
    ]


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_pod_has_a_bounded_disk_that_holds_its_volumes(
    project: str, renders: Renders
) -> None:
    for env, objects in renders.overlays(project).items():
        for deployment in _kaosgen_deployments(objects):
            name = deployment["metadata"]["name"]
            spec = deployment["spec"]["template"]["spec"]
            empty_dirs = [v for v in spec.get("volumes", []) if "emptyDir" in v]
            for volume in empty_dirs:
                assert "sizeLimit" in volume["emptyDir"], (project, env, name, volume)
            limit = _pod_limit(spec)
            if any("ephemeral-storage" not in (c["resources"].get("limits") or {})
                   for c in spec["containers"]):  # fmt: skip
                continue  # the user chose the container's resources
            volumes = sum(float(parse_quantity(v["emptyDir"]["sizeLimit"])) for v in empty_dirs)
            assert limit >= volumes, (project, env, name, limit / GI, volumes / GI)


def _project(tmp_path: Path, config: str, *docs: dict[str, Any]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + config, encoding="utf-8"
    )
    write_docs(tmp_path / "resources.yaml", docs)
    return tmp_path


def _ollama(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    (deployment,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "modelapi-llm"
    ]
    spec = deployment["spec"]["template"]["spec"]
    data = next(v for v in spec["volumes"] if v["name"] == "ollama-data")
    main = next(c for c in spec["containers"] if c["name"] == "model-api")
    return data, main["resources"]


def test_the_model_volume_follows_the_tag_and_modelstorage_size(tmp_path: Path) -> None:
    """The emptyDir holds the tag's model (8b: 7Gi); an environment's EmptyDir `size`
    replaces that and raises the container's limit to hold it; a limit the user chose for
    the container stays."""
    llm = kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "llama3.1:8b"}})
    agent = kaos("Agent", "a", {"modelAPI": "llm", "model": "llama3.1:8b"})
    config = GITOPS + (
        "environments:\n  dev: {}\n"
        "  big:\n    workloads:\n      modelapi/llm:\n"
        "        modelStorage: {type: EmptyDir, size: 100Gi}\n"
        "  chosen:\n    workloads:\n      modelapi/llm:\n"
        "        modelStorage: {type: EmptyDir, size: 100Gi}\n"
        "        resources: {limits: {ephemeral-storage: 50Gi}}\n"
    )
    out = render_ok(_project(tmp_path / "p", config, llm, agent), tmp_path / "out")
    for env in ("big", "chosen"):
        assert_hydrated_equals_overlay(out, env)  # what Flux applies has the patches too
    data, resources = _ollama(build_overlay(out / "overlays" / "dev"))
    assert data["emptyDir"] == {"sizeLimit": "7Gi"}
    assert resources["limits"]["ephemeral-storage"] == "8Gi"
    data, resources = _ollama(build_overlay(out / "overlays" / "big"))
    assert data["emptyDir"] == {"sizeLimit": "100Gi"}
    assert resources["limits"]["ephemeral-storage"] == "101Gi"
    data, resources = _ollama(build_overlay(out / "overlays" / "chosen"))
    assert data["emptyDir"] == {"sizeLimit": "100Gi"}
    assert resources["limits"]["ephemeral-storage"] == "50Gi"


def test_a_limit_below_the_model_volume_warns(tmp_path: Path) -> None:
    """The kubelet would evict the pod as the model is pulled: say so where the limit is."""
    from support.compiler import validate_json

    llm = kaos(
        "ModelAPI",
        "llm",
        {
            "mode": "Hosted",
            "hostedConfig": {"model": "llama3.1:8b"},
            "container": {"resources": {"limits": {"ephemeral-storage": "2Gi"}}},
        },
    )
    agent = kaos("Agent", "a", {"modelAPI": "llm", "model": "llama3.1:8b"})
    config = (
        "environments:\n  dev: {}\n"
        "  big:\n    workloads:\n      modelapi/llm:\n"
        "        modelStorage: {type: EmptyDir, size: 100Gi}\n"
        "  pvc:\n    workloads:\n      modelapi/llm:\n"
        "        modelStorage: {type: PersistentVolumeClaim}\n"
    )
    _, diagnostics = validate_json(".", cwd=_project(tmp_path / "p", config, llm, agent))
    found = {
        (d["file"], d["message"].split("'")[1])
        for d in diagnostics
        if d["rule"] == "model-storage" and "evicts the pod" in d["message"]
    }
    assert found == {("resources.yaml", "dev"), ("kaosgen.yaml", "big")}, diagnostics
